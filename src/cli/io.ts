/** Where a command writes: injectable so tests can capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** The process's own stdout/stderr. */
export const processIo: CliIo = {
  out: (text) => {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  err: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};

/** Exit codes every securecloud command uses. */
export const EXIT = { ok: 0, refused: 1, usage: 2 } as const;

/** A usage error: wrong arguments, unreadable input files. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Aligns `key value` pairs into two columns. */
export function formatTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** A command that could not do its work (device missing, I/O failure). Exit code 1. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
}
