/** Fields of a log line: flat values only, never secret values. */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Structured logging of the CAS. */
export interface CasLogger {
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: LogFields): void;
}

/** A logger that drops everything. */
export const silentLogger: CasLogger = { log: () => {} };

/**
 * A logger writing one JSON object per line (`time`, `level`, `msg`, the fields), with
 * `"simulation": true` on every line when the CAS runs on the SIMULATION backend.
 *
 * @example
 * const logger = createJsonLogger((line) => process.stderr.write(line), { simulation: true });
 */
export function createJsonLogger(write: (line: string) => void, options: { simulation: boolean }): CasLogger {
  return {
    log(level, msg, fields = {}) {
      const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in record)) record[k] = v;
      if (options.simulation) record.simulation = true;
      write(`${JSON.stringify(record)}\n`);
    },
  };
}
