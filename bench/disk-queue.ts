// Disk queue: CPU cost of the aggregator's load (20,000 records of 300 bytes per second, 'interval'
// fsync) against raw writes of the same bytes in the same run; peak appends/s and reads/s; recovery
// scan speed at open; index memory per record; CRC-32 choices. Prints JSON.
// Usage: npm run bench -- disk-queue [--seconds S] [--records N]
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskQueue } from '../src/metering/aggregator/disk-queue.ts';
import { crc32, crc32Portable } from '../src/metering/aggregator/queue-crc32.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const seconds = Number(arg('--seconds')) || 2;
const fill = Number(arg('--records')) || 200_000;
const SIZE = 300;
const RATE = 20_000;
const TICK_MS = 10;
const record = Buffer.alloc(SIZE, 0xa5);

const cpuPercent = (u: NodeJS.CpuUsage, ms: number) =>
  Math.round(((u.user + u.system) / 1000 / ms) * 1000) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Runs `tick(n)` every 10 ms with the records due, for `seconds`; returns the CPU share of one core.
async function paced(
  tick: (n: number) => Promise<unknown>,
): Promise<{ cpuPercent: number; records: number }> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const inflight = new Set<Promise<unknown>>();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE) - sent;
    if (due > 0) {
      const p = tick(due).finally(() => inflight.delete(p));
      inflight.add(p);
      sent += due;
    }
    await sleep(TICK_MS);
  }
  await Promise.all(inflight);
  return { cpuPercent: cpuPercent(process.cpuUsage(cpu), performance.now() - start), records: sent };
}

async function withQueue<T>(run: (q: DiskQueue, dir: string) => Promise<T>, opts = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'securecloud-bench-queue-'));
  const q = await DiskQueue.open(dir, opts);
  try {
    return await run(q, dir);
  } finally {
    await q.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

// Baseline: the same bytes appended to one file with a group fsync every 50 ms, nothing else.
async function rawBaseline() {
  const dir = await mkdtemp(join(tmpdir(), 'securecloud-bench-raw-'));
  const fh = await open(join(dir, 'raw'), 'w');
  let pos = 0;
  let dirty = false;
  const syncer = setInterval(() => {
    if (dirty) {
      dirty = false;
      void fh.sync();
    }
  }, 50);
  const r = await paced(async (n) => {
    const b = Buffer.allocUnsafe(n * (SIZE + 8));
    for (let k = 0; k < n; k++) record.copy(b, k * (SIZE + 8) + 8);
    await fh.write(b, 0, b.length, pos);
    pos += b.length;
    dirty = true;
  });
  clearInterval(syncer);
  await fh.close();
  await rm(dir, { recursive: true, force: true });
  return r;
}

function crcRates() {
  const n = 200_000;
  const time = (f: () => void) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    return Math.round(n / ((performance.now() - t) / 1000));
  };
  return {
    zlibCrc32PerSec: time(() => crc32(record)),
    portableCrc32PerSec: time(() => crc32Portable(record)),
    sha256PerSec: time(() => createHash('sha256').update(record).digest().readUInt32LE(0)),
  };
}

const baseline = await rawBaseline();
const batched = await withQueue(async (q) => paced((n) => q.append(Array.from({ length: n }, () => record))));
const single = await withQueue(async (q) =>
  paced((n) => Promise.all(Array.from({ length: n }, () => q.append([record])))),
);
// The whole path: append, read back, ack (as the aggregator does while the MDC answers).
const cycle = await withQueue(async (q) => {
  let cursor = 1n;
  return paced(async (n) => {
    await q.append(Array.from({ length: n }, () => record));
    const got = await q.read(cursor, 10_000);
    for (const r of got) q.ack(r.id);
    if (got.length > 0) cursor = got[got.length - 1]!.id + 1n;
  });
});

const peak = await withQueue(
  async (q, dir) => {
    const t0 = performance.now();
    const batch = Array.from({ length: 100 }, () => record);
    for (let done = 0; done < fill; done += 10_000)
      await Promise.all(Array.from({ length: 100 }, () => q.append(batch)));
    const appendMs = performance.now() - t0;
    const t1 = performance.now();
    let n = 0;
    for (let from = 1n; ; ) {
      const got = await q.read(from, 1000);
      if (got.length === 0) break;
      n += got.length;
      from = got[got.length - 1]!.id + 1n;
    }
    const readMs = performance.now() - t1;
    const diskMB = q.diskBytes / 2 ** 20;
    const memory = {
      indexBytes: q.indexBytes,
      bytesPerRecord: Math.round((q.indexBytes / fill) * 1000) / 1000,
    };
    await q.close();
    const reopen = async () => {
      const t = performance.now();
      const again = await DiskQueue.open(dir);
      return { q: again, ms: performance.now() - t };
    };
    const clean = await reopen(); // every record checked (framing and CRC)
    // Half acked at scattered positions: reads must skip them; the ack log holds 100,000 entries.
    for (let id = 1n; id < clean.q.nextId; id += 2n) clean.q.ack(id);
    await clean.q.flush();
    const t2 = performance.now();
    let m = 0;
    for (let from = 1n; ; ) {
      const got = await clean.q.read(from, 1000);
      if (got.length === 0) break;
      m += got.length;
      from = got[got.length - 1]!.id + 1n;
    }
    const sparseMs = performance.now() - t2;
    await clean.q.close();
    const halfAcked = await reopen();
    await halfAcked.q.close();
    return {
      appendsPerSec: Math.round(fill / (appendMs / 1000)),
      readsPerSec: Math.round(n / (readMs / 1000)),
      readsPerSecHalfAcked: Math.round(m / (sparseMs / 1000)),
      diskMB: Math.round(diskMB),
      openMs: Math.round(clean.ms),
      openScanMBPerSec: Math.round(diskMB / (clean.ms / 1000)),
      openMsHalfAcked: Math.round(halfAcked.ms),
      memory,
    };
  },
  { fsync: 'interval' },
);

process.stdout.write(
  `${JSON.stringify(
    {
      recordBytes: SIZE,
      ratePerSec: RATE,
      seconds,
      cpuPercentOfOneCore: {
        rawWriteBaseline: baseline.cpuPercent,
        appendBatchedPer10ms: batched.cpuPercent,
        appendOneRecordPerCall: single.cpuPercent,
        appendReadAck: cycle.cpuPercent,
      },
      ratioToBaseline: {
        appendBatchedPer10ms: Math.round((batched.cpuPercent / baseline.cpuPercent) * 10) / 10,
        appendOneRecordPerCall: Math.round((single.cpuPercent / baseline.cpuPercent) * 10) / 10,
        appendReadAck: Math.round((cycle.cpuPercent / baseline.cpuPercent) * 10) / 10,
      },
      peak: { records: fill, ...peak },
      crc: crcRates(),
    },
    null,
    2,
  )}\n`,
);
