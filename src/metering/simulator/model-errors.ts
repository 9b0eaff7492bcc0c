/** Stable codes of the meter simulator's consumption model. Never renamed; new ones are appended. */
export const SIMULATOR_ERROR_CODES = [
  'ERR_SIM_DATA', // the household data directory is missing, incomplete or malformed
] as const;

/** One of {@link SIMULATOR_ERROR_CODES}. */
export type SimulatorErrorCode = (typeof SIMULATOR_ERROR_CODES)[number];

/** Facts about a refusal: where (file, line), what was found, what was expected. */
export interface SimulatorErrorDetail {
  readonly path: string;
  readonly line?: number;
  readonly found?: string;
  readonly expected?: string;
}

/** Error raised while loading the household data the simulator's customers are modelled on. */
export class SimulatorError extends Error {
  override readonly name = 'SimulatorError';
  readonly code: SimulatorErrorCode;
  readonly detail: SimulatorErrorDetail;

  constructor(code: SimulatorErrorCode, message: string, detail: SimulatorErrorDetail, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.detail = detail;
  }
}

/** True when `value` is a {@link SimulatorError}, optionally with the given code. */
export function isSimulatorError(value: unknown, code?: SimulatorErrorCode): value is SimulatorError {
  return value instanceof SimulatorError && (code === undefined || value.code === code);
}
