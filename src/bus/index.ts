/**
 * The secure event bus: ZeroMQ with CURVE always on, behind our own {@link Transport} interface.
 * Each service's CURVE key is made at start-up and recorded at the CAS against its attested
 * instance; a ZAP handler admits only keys the CAS lists on the channel with the role the policy
 * grants. Other contexts import only from this file.
 */
export {
  type Admission,
  type AdmissionRefusal,
  admit,
  assertChannelName,
  CHANNEL_NAME,
  ChannelRegistry,
  ownRoleOf,
  peerRoleOf,
} from './channel-policy.ts';
export {
  CODEC_MAGIC,
  type CodecOptions,
  defineCodec,
  type FieldSchema,
  type Infer,
  type InferObject,
  type MessageCodec,
  type ObjectFields,
} from './codec.ts';
export {
  CurveBusIdentity,
  type CurveKeyPair,
  type CurveKeyRegistrar,
  createBusIdentity,
  generateCurveKeyPair,
  instanceClientCert,
  isCurveKey,
  Z85_KEY,
  z85Decode,
  z85Encode,
} from './curve-keys.ts';
export { BUS_ERROR_CODES, BusError, type BusErrorCode, isBusError } from './errors.ts';
export {
  type CasKeyDirectoryOptions,
  type ChannelKeysSource,
  createCasKeyDirectory,
  createStaticKeyDirectory,
  type KeyDirectory,
  readAdmittedKey,
  type StaticKeyDirectory,
} from './key-directory.ts';
// Secure Content-Based Routing: filters, matching index, the encrypted router and its clients.
export * from './scbr/index.ts';
export {
  type AdmittedKey,
  BUS_DEFAULTS,
  type BusCredential,
  type BusIdentity,
  type BusSecurity,
  type BusSocket,
  type BusSocketEvent,
  type BusSocketKind,
  type BusSocketOptions,
  type ChannelRole,
  type ConnectOptions,
  type DealerSocket,
  type DealerSocketOptions,
  type Frames,
  type IncomingRequest,
  type KeyDirectoryView,
  type PublisherSocket,
  type PullSocket,
  type PushSocket,
  type ReceiveOptions,
  type Receiver,
  type ReplySocket,
  type RequestOptions,
  type RequestSocket,
  type RequestSocketOptions,
  type RouterSocket,
  type Sender,
  type SendOptions,
  SOCKET_ROLES,
  type SubscriberSocket,
  type Transport,
} from './transport.ts';
export {
  type BusLogger,
  decideZap,
  parseZapRequest,
  startZapHandler,
  ZAP_ENDPOINT,
  type ZapDecision,
  type ZapHandler,
  type ZapHandlerOptions,
  type ZapRefusal,
  type ZapRequest,
  type ZapSocket,
  zapReplyFrames,
} from './zap.ts';
export { createZmqTransport, type ZmqTransportOptions } from './zmq-adapter.ts';
