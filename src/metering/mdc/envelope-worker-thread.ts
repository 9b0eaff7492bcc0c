/**
 * Entry of the MDC's envelope worker thread (envelope-worker.ts): runs each job it is sent
 * (envelope-jobs.ts) and sends its result back, in order.
 */
import { parentPort } from 'node:worker_threads';
import { runJob } from './envelope-jobs.ts';

const port = parentPort;
if (port === null) throw new Error('envelope-worker-thread.ts runs only as a worker thread');
port.on('message', (m: { id: number; job: ArrayBuffer }) => {
  try {
    const result = runJob(m.job);
    port.postMessage({ id: m.id, result }, [result]);
  } catch (err) {
    port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ ready: true });
