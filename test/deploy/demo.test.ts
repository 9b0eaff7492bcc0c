// `securecloud demo` (what `npm start` runs) on a small deployment: it ends by itself when not on a
// terminal, shows the SIMULATION banner and the attested services, stores readings, exits 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeTestDeployment } from './test-deployment.ts';

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;

describe('securecloud demo', { timeout: 120_000 }, () => {
  it('runs a small deployment for two rounds and ends by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-demo-'));
    try {
      const file = await writeTestDeployment(dir, '{ count: 100, speed: 600, households: 4 }');
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
