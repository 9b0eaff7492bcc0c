// One 15-minute round of N meters end to end on one machine: simulator → aggregators → attested
// MDC (its own process) → CascaDB on LMDB (INMETRO-signed), over real TCP links and the ZeroMQ CURVE
// bus; then the same round with the secure envelope disabled (reports in clear, accepted only by an
// MDC started with --insecure-plaintext-bench), for comparison. Prints JSON.
// Usage: npm run bench -- ingest [--meters N] [--aggregators M] [--shards S] [--envelope-worker on|off]
//        [--json FILE]
import { readFile, writeFile } from 'node:fs/promises';
import { applyIngestV8Flags } from '../src/metering/v8-flags.ts';
import { startIngestRig } from '../test/metering/ingest-fixture.ts';

// This process runs the simulator and the aggregators: their commands' V8 settings (the MDC's
// process applies its own).
applyIngestV8Flags();

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const METERS = arg('meters', 65_000);
const AGGREGATORS = arg('aggregators', 2);
const SHARDS = arg('shards', 1);
const jsonAt = process.argv.indexOf('--json');
const workerAt = process.argv.indexOf('--envelope-worker');
const ENVELOPE_WORKER = workerAt > 0 ? process.argv[workerAt + 1] !== 'off' : undefined;
const INTERVAL = 15 * 60_000;
/** The goals: a round's seconds by fleet size. */
const GOAL_SECONDS: Record<number, number> = { 65000: 5, 1000000: 90 };
/** USER_HZ: Linux /proc gives CPU times in 1/100 s. */
const CLOCK_TICKS = 100;
const progress = (s: string) => process.stderr.write(`${s}\n`);
// Say how the process ends, whatever ends it (an unsettled await ends it silently otherwise).
process.on('exit', (code) => {
  if (code !== 0) process.stderr.write(`ingest bench exiting with code ${code}\n`);
});

const t0 = performance.now();
const rig = await startIngestRig({
  meters: METERS,
  aggregators: AGGREGATORS,
  mdcProcess: true,
  plaintext: true,
  ...(ENVELOPE_WORKER !== undefined && { envelopeWorker: ENVELOPE_WORKER }),
});
progress(
  `set up (provisioning ${METERS} meters, CAS, MDC, ${AGGREGATORS} aggregators): ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const th = performance.now();
let shown = 0;
const sessions = await rig.fleet.handshake({
  concurrency: 5000,
  onProgress: (d, t) => {
    if (d - shown >= 50_000 || d === t) {
      shown = d;
      progress(`handshakes ${d}/${t}`);
    }
  },
});
const handshakeSeconds = (performance.now() - th) / 1000;
const now = Math.floor(Date.now() / INTERVAL) * INTERVAL;

/** Waits until the MDCs have folded their write buffers (the sessions, a round); returns seconds. */
const waitForFold = async (): Promise<number> => {
  const tf = performance.now();
  for (;;) {
    let buffered = 0;
    for (const child of rig.mdcChildren) buffered += (await child.health()).bufferedKeys;
    if (buffered === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - tf) / 1000;
};
// The sessions the handshakes persisted are folded before the first round, as they would be
// long before a real round.
const sessionFoldSeconds = await waitForFold();
progress(`sessions folded in ${sessionFoldSeconds.toFixed(1)} s`);

/** Folds started so far in all MDCs, by trigger. */
const foldsBy = async () => {
  const sum = { size: 0, idle: 0, call: 0 };
  for (const child of rig.mdcChildren) {
    const f = (await child.health()).foldsBy;
    sum.size += f.size;
    sum.idle += f.idle;
    sum.call += f.call;
  }
  return sum;
};

const measure = async (intervalEnd: number, before: number) => {
  const foldsBefore = await foldsBy();
  const mdcCpuBefore = await mdcCpuSeconds();
  const benchCpuBefore = process.cpuUsage();
  const round = await rig.fleet.round(intervalEnd, { deadlineMs: 300_000, resendAfterMs: 60_000 });
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const mdcCpu = (await mdcCpuSeconds()) - mdcCpuBefore;
  const foldsAfter = await foldsBy();
  // Folds that started during the round (each rewrites the blocks of every meter it holds).
  const foldsDuringRound = {
    size: foldsAfter.size - foldsBefore.size,
    idle: foldsAfter.idle - foldsBefore.idle,
    call: foldsAfter.call - foldsBefore.call,
  };
  progress(`round: ${round.stored} receipts in ${round.seconds.toFixed(2)} s; waiting for the MDC's fold`);
  // The MDC logs a round's readings and folds them into the reading table once the round pauses
  // (src/kvs/write-buffer.ts): wait for that, as the next round would 15 minutes later.
  const foldSeconds = await waitForFold();
  let readings = 0;
  for (const child of rig.mdcChildren) readings += (await child.stats()).readings;
  const stats = { readings };
  const stored = stats.readings - before;
  return {
    seconds: Number(round.seconds.toFixed(2)),
    foldsDuringRound,
    // From the round's last receipt until the MDC had folded it into the reading table.
    foldSeconds: Number(foldSeconds.toFixed(2)),
    reportsPerSecond: Math.round(round.stored / round.seconds),
    // CPU time spent during the round: the MDC processes (user + system, from /proc), and this
    // process (simulator and aggregators); per report, in microseconds. Less moved by other load
    // on the machine than the round's seconds, so better for comparing two versions of the code.
    cpu: {
      mdcSeconds: Number(mdcCpu.toFixed(2)),
      mdcMicrosPerReport: Math.round((mdcCpu * 1e6) / METERS),
      benchSeconds: Number(((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)),
      benchMicrosPerReport: Math.round((benchCpu.user + benchCpu.system) / METERS),
    },
    stored,
    acknowledged: round.stored,
    lost: METERS - stored,
    // A reading stored twice would need two rows with one primary key; counted as receipts beyond rows.
    duplicated: Math.max(0, round.stored - stored),
    duplicateReceipts: round.duplicates,
    refusals: round.refusals,
    total: stats.readings,
  };
};
// The clear round first, for the interval before: both rounds then store readings newer than any
// stored for their meters (the MDC's fast path), and the secure round runs on the larger table.
rig.fleet.useEnvelope('none');
const clear = await measure(now - INTERVAL, 0);
progress(`round without the envelope: ${clear.seconds} s`);
rig.fleet.useEnvelope('aes-gcm');
const secure = await measure(now, clear.total);
const result = {
  meters: METERS,
  aggregators: AGGREGATORS,
  mdcShards: SHARDS,
  sessions,
  envelopeWorker: ENVELOPE_WORKER ?? true,
  handshakeSeconds: Number(handshakeSeconds.toFixed(2)),
  handshakesPerSecond: Math.round(sessions / handshakeSeconds),
  seconds: secure.seconds,
  foldSeconds: secure.foldSeconds,
  foldsDuringRound: secure.foldsDuringRound,
  reportsPerSecond: secure.reportsPerSecond,
  cpu: secure.cpu,
  stored: secure.stored,
  lost: secure.lost,
  duplicated: secure.duplicated,
  duplicateReceipts: secure.duplicateReceipts,
  refusals: secure.refusals,
  rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  mdcRssMiB: await mdcRssMiB(),
  withoutEnvelope: {
    seconds: clear.seconds,
    foldSeconds: clear.foldSeconds,
    foldsDuringRound: clear.foldsDuringRound,
    reportsPerSecond: clear.reportsPerSecond,
    cpu: clear.cpu,
    stored: clear.stored,
    lost: clear.lost,
    duplicated: clear.duplicated,
  },
  envelopeCostRatio: Number((secure.seconds / clear.seconds).toFixed(2)),
  goal: GOAL_SECONDS[METERS] === undefined ? undefined : goal(GOAL_SECONDS[METERS]),
};
await rig.close();
const text = JSON.stringify(result, null, 2);

function goal(seconds: number): { seconds: number; lost: 0; duplicated: 0; met: boolean } {
  return {
    seconds,
    lost: 0,
    duplicated: 0,
    met: secure.seconds <= seconds && secure.lost === 0 && secure.duplicated === 0,
  };
}
process.stdout.write(`${text}\n`);
if (jsonAt > 0) await writeFile(process.argv[jsonAt + 1]!, `${text}\n`);

/** CPU time the MDC processes have used so far, user + system (Linux /proc), seconds. */
async function mdcCpuSeconds(): Promise<number> {
  let ticks = 0;
  for (const child of rig.mdcChildren) {
    const stat = await readFile(`/proc/${child.process.pid}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which is in parentheses and may hold spaces): utime is the
    // 14th field of the line, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** The MDC processes' resident memory (Linux /proc), MiB. */
async function mdcRssMiB(): Promise<number | undefined> {
  let kib = 0;
  for (const child of rig.mdcChildren) {
    const status = await readFile(`/proc/${child.process.pid}/status`, 'utf8').catch(() => '');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    if (m === null) return undefined;
    kib += Number(m[1]);
  }
  return Math.round(kib / 1024);
}
