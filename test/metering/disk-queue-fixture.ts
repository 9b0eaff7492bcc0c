import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../support/prng.ts';

/** The deterministic record the crash child appends as id `id`: 1 to 300 bytes, seeded by the id. */
export function recordFor(id: bigint): Buffer {
  const r = prng(Number(id));
  const b = Buffer.allocUnsafe(1 + Number(id % 300n));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** A fresh directory under the OS temp dir, and its removal. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'securecloud-disk-queue-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const CHILD = fileURLToPath(new URL('./disk-queue-child.ts', import.meta.url));

/** A child process running disk-queue-child.ts, with its stdout split into lines. */
export interface Child {
  readonly pid: number;
  readonly lines: string[];
  /** Resolves once `predicate` holds for the lines read so far (rejects if the child exits first). */
  until(predicate: (lines: readonly string[]) => boolean): Promise<void>;
  kill(): Promise<void>;
}

/** Starts `node --import tsx disk-queue-child.ts MODE DIR`. */
export function startChild(mode: 'hold' | 'crash', dir: string): Child {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  let exited = false;
  p.stdout.setEncoding('utf8').on('data', (s: string) => {
    const parts = (partial + s).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of watchers) w();
  });
  p.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exit = new Promise<void>((resolve) =>
    p.on('exit', () => {
      exited = true;
      for (const w of watchers) w();
      resolve();
    }),
  );
  return {
    pid: p.pid!,
    lines,
    until: (predicate) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate(lines)) {
            watchers.delete(check);
            resolve();
          } else if (exited) {
            watchers.delete(check);
            reject(new Error(`child exited early: ${stderr}`));
          }
        };
        watchers.add(check);
        check();
      }),
    kill: async () => {
      if (!exited) p.kill('SIGKILL');
      await exit;
    },
  };
}
