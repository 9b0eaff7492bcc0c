// End to end: `securecloud up` starts a small deployment as separate processes (CAS, SCBR router, MDC,
// aggregator, simulator); readings get stored; the MDC process is SIGKILLed; the supervisor restarts it and it is
// attested again; at the end every (meter, interval) is stored exactly once (counted, and audited
// with the INMETRO signatures), `status` shows the restart, and SIGTERM stops everything.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCasClient } from '../../src/cas/index.ts';
import { collectStatus, isProcessAlive, readUpState, type UpState } from '../../src/deploy/index.ts';
import { runCli } from '../cli/helpers.ts';
import { writeTestDeployment } from './test-deployment.ts';

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;
const METERS = 200;
const ROUNDS = 8;
const INTERVAL = 15 * 60_000;

describe('securecloud up, end to end', { timeout: 150_000 }, () => {
  let dir: string;
  let child: ChildProcess;
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const waitFor = (re: RegExp, ms = 60_000): Promise<RegExpMatchArray> => {
    const m = out.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; output:\n${out}`)), ms);
      waiters.push({
        re,
        resolve: (match) => {
          clearTimeout(timer);
          resolve(match);
        },
      });
    });
  };
  let exited: Promise<number | null>;
  let lastState: UpState | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-up-'));
    const file = await writeTestDeployment(
      dir,
      `{ count: ${METERS}, speed: 450, households: 4, rounds: ${ROUNDS} }`,
      ['restart: { initialSeconds: 0.5, maxSeconds: 4 }', 'stopTimeoutSeconds: 10'],
    );
    child = spawn(process.execPath, [BIN, 'up', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((r) => child.once('exit', (code) => r(code)));
    const onData = (c: Buffer) => {
      out += String(c);
      for (const w of [...waiters]) {
        const m = out.match(w.re);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });

  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    // Nothing the deployment started may outlive it.
    for (const s of lastState?.services ?? [])
      if (s.pid !== null && isProcessAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('starts every service attested, with a SIMULATION banner, and stores readings', async (t) => {
    const t0 = performance.now();
    await waitFor(/deployment securecloud-local is up/);
    t.diagnostic(`up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(out, /SIMULATION/);
    assert.match(out, /provisioning meters 200\/200/);
    assert.match(out, /CAS up at https:\/\/127\.0\.0\.1:\d+: evidence verified \(sim, SIMULATION/);
    assert.match(out, /policy applied \(hash [0-9a-f]{16}/);
    assert.match(out, /mdc-0 attested \(instance [0-9a-f]{8}…, sim, SIMULATION\)/);
    assert.match(out, /aggregator-0 attested/);
    assert.match(out, /scbr-router attested \(instance [0-9a-f]{8}…, sim, SIMULATION\)/);
    await waitFor(/round [^:]+:\d\d:\d\d\.\d+Z: sent \d+, stored [1-9]/);
  });

  it('restarts a SIGKILLed MDC, which is attested again', async () => {
    const state = await readUpState(join(dir, 'data'));
    assert.ok(state);
    const mdc = state.services.find((s) => s.name === 'mdc-0');
    assert.ok(mdc?.pid && mdc.instanceId);
    process.kill(mdc.pid, 'SIGKILL');
    await waitFor(/mdc-0 exited \(signal SIGKILL\); restarting in 0\.5 s \(restart 1\)/);
    const again = await waitFor(/mdc-0 attested again \(instance ([0-9a-f]{8})…/);
    assert.notEqual(again[1], mdc.instanceId.slice(0, 8), 'a new instance');
  });

  it('stores every reading exactly once', async (t) => {
    await waitFor(new RegExp(`simulator finished its ${ROUNDS} rounds`), 90_000);
    // Let the aggregator drain its queue to the restarted MDC.
    const data = join(dir, 'data');
    let status = await collectStatus(data);
    for (let i = 0; i < 50 && status.counters.readingsStored !== METERS * ROUNDS; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = await collectStatus(data);
    }
    lastState = await readUpState(data);
    const totals = lastState!.totals;
    assert.equal(totals.rounds, ROUNDS);
    t.diagnostic(`rounds: ${JSON.stringify(totals)}`);
    assert.equal(
      status.counters.readingsStored,
      METERS * ROUNDS,
      `no reading lost: ${JSON.stringify(totals)}`,
    );
    // Every report got a receipt (stored, or duplicate of a stored one) or none before its round's
    // deadline (the MDC was down); those without are in the database all the same, once.
    assert.equal(totals.stored + totals.duplicates + totals.unacknowledged, METERS * ROUNDS);
    assert.ok(totals.stored <= METERS * ROUNDS);

    // The regulator's audit of two meters over every round: signed, complete, no duplicate.
    const rootPem = await readFile(join(data, 'cas', 'root.pem'), 'utf8');
    const cas = createCasClient({
      url: lastState!.casUrl,
      rootPem,
      userKeyPem: await readFile(join(data, 'owner.pem'), 'utf8'),
    });
    const inmetro = (await cas.getSecret('inmetro')).fields.publicPem!;
    const token = (await cas.getSecret('auditToken')).fields.value!;
    cas.close();
    await writeFile(join(dir, 'inmetro.pem'), inmetro);
    await writeFile(join(dir, 'token'), token, { mode: 0o600 });
    const first = Date.parse(lastState!.rounds[0]!.at);
    const last = Date.parse(lastState!.rounds.at(-1)!.at);
    assert.equal(last - first, (ROUNDS - 1) * INTERVAL);
    const mdcUrl = lastState!.services.find((s) => s.name === 'mdc-0')!.healthUrl!.replace('/healthz', '');
    for (const meter of ['1', String(METERS)]) {
      const r = await runCli(
        'metering',
        'audit',
        '--meter',
        meter,
        '--from',
        String(first - INTERVAL),
        '--to',
        String(last),
        '--public-key',
        join(dir, 'inmetro.pem'),
        '--mdc',
        mdcUrl,
        '--token-file',
        join(dir, 'token'),
        '--cas-root',
        join(data, 'cas', 'root.pem'),
        '--json',
      );
      assert.equal(r.code, 0, `audit of meter ${meter}: ${r.out}${r.err}`);
      const report = JSON.parse(r.out) as { ok: boolean };
      assert.equal(report.ok, true);
    }
  });

  it('shows the restart and the counters in status --json', async () => {
    const r = await runCli('status', '--data', join(dir, 'data'), '--json');
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out) as {
      running: boolean;
      services: {
        name: string;
        restarts: number;
        attested: boolean;
        platform: string;
        healthy: boolean | null;
      }[];
      counters: { readingsStored: number; reportsPerSecond: number; refusals: Record<string, number> };
    };
    assert.equal(s.running, true);
    const mdc = s.services.find((x) => x.name === 'mdc-0')!;
    assert.equal(mdc.restarts, 1);
    assert.equal(mdc.attested, true);
    assert.equal(mdc.platform, 'sim');
    assert.equal(mdc.healthy, true);
    assert.equal(s.services.find((x) => x.name === 'cas')!.healthy, true);
    // The SCBR router's /healthz answers over HTTPS with its CAS-issued `scbr-router` certificate.
    assert.equal(s.services.find((x) => x.name === 'scbr-router')!.healthy, true);
    assert.equal(s.counters.readingsStored, METERS * ROUNDS);
    assert.ok(s.counters.reportsPerSecond > 0);
    assert.deepEqual(s.counters.refusals, {});
  });

  it('stops every service in order on SIGTERM and removes its state file', async () => {
    const services = lastState!.services.filter((s) => s.pid !== null);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    const stops = [...out.matchAll(/stopped ([a-z0-9-]+)/g)].map((m) => m[1]);
    assert.deepEqual(stops, ['simulator', 'aggregator-0', 'mdc-0', 'scbr-router', 'cas']);
    for (const s of services) assert.equal(isProcessAlive(s.pid), false, `${s.name} (pid ${s.pid}) stopped`);
    await assert.rejects(stat(join(dir, 'data', 'up.json')));
    const r = await runCli('status', '--data', join(dir, 'data'));
    assert.equal(r.code, 1);
    assert.match(r.err, /no deployment runs on .*: start one with `securecloud up`/);
  });
});
