// One 15-minute round of N meters end to end on one machine: simulator → aggregators → attested
// MDC → CascaDB on LMDB (INMETRO-signed), over real TCP links and the ZeroMQ CURVE bus. Prints JSON.
// Usage: npm run bench -- ingest [--meters N] [--aggregators M] [--json FILE]
import { writeFile } from 'node:fs/promises';
import { startIngestRig } from '../test/metering/ingest-fixture.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const METERS = arg('meters', 65_000);
const AGGREGATORS = arg('aggregators', 2);
const jsonAt = process.argv.indexOf('--json');
const INTERVAL = 15 * 60_000;
const progress = (s: string) => process.stderr.write(`${s}\n`);

const t0 = performance.now();
const rig = await startIngestRig({ meters: METERS, aggregators: AGGREGATORS, mdcProcess: true });
progress(
  `set up (provisioning ${METERS} meters, CAS, MDC, ${AGGREGATORS} aggregators): ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const th = performance.now();
const sessions = await rig.fleet.handshake({
  concurrency: 5000,
  onProgress: (d, t) => progress(`handshakes ${d}/${t}`),
});
const handshakeSeconds = (performance.now() - th) / 1000;
const intervalEnd = Math.floor(Date.now() / INTERVAL) * INTERVAL;
const rssBefore = process.memoryUsage().rss;
const round = await rig.fleet.round(intervalEnd, { deadlineMs: 120_000, resendAfterMs: 30_000 });
const mdcStats = await rig.mdcChild!.stats();
const stored = mdcStats.readings;
const result = {
  meters: METERS,
  aggregators: AGGREGATORS,
  sessions,
  handshakeSeconds: Number(handshakeSeconds.toFixed(2)),
  handshakesPerSecond: Math.round(sessions / handshakeSeconds),
  seconds: Number(round.seconds.toFixed(2)),
  reportsPerSecond: Math.round(round.stored / round.seconds),
  stored,
  acknowledged: round.stored,
  lost: METERS - stored,
  duplicated: Math.max(0, round.stored - stored),
  duplicateReceipts: round.duplicates,
  refusals: round.refusals,
  rssMiB: Math.round(Math.max(rssBefore, process.memoryUsage().rss) / 2 ** 20),
  goal: METERS === 65_000 ? 'at most 5 s, nothing lost or duplicated' : undefined,
};
await rig.close();
const text = JSON.stringify(result, null, 2);
process.stdout.write(`${text}\n`);
if (jsonAt > 0) await writeFile(process.argv[jsonAt + 1]!, `${text}\n`);
