export {
  BCD_TIME_LENGTH,
  decodeBcdTime,
  encodeBcdTime,
} from './bcd.ts';
export {
  COMMAND_LENGTH,
  type CommandFrame,
  decodeCommandFrame,
  decodeResponseFrame,
  encodeCommandFrame,
  encodeResponseFrame,
  RESPONSE_LENGTH,
  type ResponseFrame,
} from './block.ts';
export { type CounterVerdict, CounterWindow, DEFAULT_COUNTER_WINDOW } from './counter-window.ts';
export { crc16Arc } from './crc16.ts';
export {
  isMeteringError,
  METERING_ERROR_CODES,
  MeteringError,
  type MeteringErrorCode,
  type MeteringErrorDetail,
} from './errors.ts';
export {
  CMD_INSTANTANEOUS,
  decodeInstantaneousCommand,
  decodeInstantaneousFrame,
  decodeInstantaneousResponse,
  encodeInstantaneousCommand,
  encodeInstantaneousResponse,
  INSTANTANEOUS_FLOAT_FIELDS,
  type InstantaneousFloatName,
  type InstantaneousQuantities,
} from './instantaneous.ts';
export {
  createSigningKeyPair,
  ed25519PublicFromRaw,
  mdcKeyId,
  rawPublicKey,
  type SigningKeyPair,
} from './keys.ts';
export {
  CMD_LOAD_PROFILE,
  decodeLoadProfileCommand,
  decodeLoadProfileResponse,
  encodeLoadProfileCommand,
  encodeLoadProfileResponse,
  LOAD_PROFILE_INTERVALS,
  LOAD_PROFILE_MAX_RECORDS,
  type LoadProfile,
  type LoadProfileRecord,
  type LoadProfileRequest,
} from './load-profile.ts';
export {
  MdcEndpoint,
  type MdcEndpointOptions,
  type MdcSessionRecord,
  type OpenedEnvelope,
  type PreOpened,
} from './mdc-endpoint.ts';
export { MeterEndpoint, type MeterEndpointOptions } from './meter-endpoint.ts';
export {
  CMD_RECEIPT,
  decodeReceiptCommand,
  encodeReceiptCommand,
  RECEIPT_STATUS,
  type Receipt,
  type ReceiptStatus,
} from './receipt.ts';
export {
  CMD_REGISTERS,
  decodeRegistersCommand,
  decodeRegistersResponse,
  type EnergyRegisters,
  encodeRegistersCommand,
  encodeRegistersResponse,
} from './registers.ts';
export {
  type DataHeader,
  DEFAULT_SESSION_LIMITS,
  type Direction,
  openData,
  parseDataHeader,
  type SessionLimits,
  sealData,
} from './secure-session.ts';
export {
  ACCEPT_LENGTH,
  DATA_DOWN_LENGTH,
  DATA_UP_LENGTH,
  ENVELOPE_VERSION,
  FINISH_LENGTH,
  HELLO_LENGTH,
  MESSAGE_TYPES,
  type MessageType,
  messageType,
} from './wire.ts';
