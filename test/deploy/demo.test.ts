// `securecloud demo` (what `npm start` runs) on a small deployment: it ends by itself when not on a
// terminal, shows the SIMULATION banner and the attested services, stores readings, exits 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePortBase } from '../support/ports.ts';

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;

describe('securecloud demo', { timeout: 120_000 }, () => {
  it('runs a small deployment for two rounds and ends by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-demo-'));
    try {
      const base = await freePortBase(8);
      const file = join(dir, 'demo.yaml');
      await writeFile(
        file,
        [
          `dataDir: ${join(dir, 'data')}`,
          `cas: { port: ${base} }`,
          'cascadb: { enabled: false }',
          `mdc: { shards: 1, busPort: ${base + 1}, httpPort: ${base + 2} }`,
          `aggregators: { count: 1, port: ${base + 3}, httpPort: ${base + 7} }`,
          `scbr: { publishPort: ${base + 4}, subscribePort: ${base + 5}, httpPort: ${base + 6} }`,
          'meters: { count: 100, speed: 600, households: 4 }',
        ].join('\n'),
      );
      const r = await promisify(execFile)(process.execPath, [BIN, 'demo', file, '--rounds', '2'], {
        timeout: 100_000,
      });
      assert.match(r.stdout, /SIMULATION/);
      assert.match(r.stdout, /attested/);
      assert.match(r.stdout, /readings stored|readingsStored|stored/i);
      assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
