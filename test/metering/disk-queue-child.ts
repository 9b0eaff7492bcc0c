// Child process for the disk queue tests: `hold DIR` opens the queue and waits (to hold its lock);
// `crash DIR` appends with fsync 'always' and prints "first last" as each append resolves, until killed.
import { DiskQueue } from '../../src/metering/aggregator/disk-queue.ts';
import { recordFor } from './disk-queue-fixture.ts';

const [mode, dir] = process.argv.slice(2);
const q = await DiskQueue.open(dir!, { fsync: 'always', maxSegmentBytes: 64 * 1024 });
process.stdout.write('ready\n');
if (mode === 'hold') setInterval(() => undefined, 60_000);
else {
  // Four appenders at once, so that group commits share fsyncs and writes interleave with them.
  const appender = async (seed: number) => {
    for (let n = seed; ; n++) {
      const size = 1 + (n % 7);
      const records = Array.from({ length: size }, (_, k) => recordFor(q.nextId + BigInt(k)));
      const { first, last } = await q.append(records);
      process.stdout.write(`${first} ${last}\n`);
    }
  };
  await Promise.all([1, 2, 3, 4].map(appender));
}
