import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryInterrupted } from '../../src/bus/zmq-adapter.ts';

const errno = (code: string) => Object.assign(new Error(code), { code });

/** Runs `retryInterrupted` on a function that throws `code` until its `succeedAt`-th call: calls made and what came out. */
function callsOf(code: string, succeedAt = Number.POSITIVE_INFINITY): { calls: number; result: unknown } {
  let calls = 0;
  let result: unknown;
  try {
    result = retryInterrupted(() => {
      calls++;
      if (calls < succeedAt) throw errno(code);
      return 'observer';
    });
  } catch (e) {
    result = e;
  }
  return { calls, result };
}

test('a call interrupted by a signal (EINTR) is made again until it returns', () => {
  assert.deepEqual(callsOf('EINTR', 3), { calls: 3, result: 'observer' });
});

test('other errors, and EINTR ten times running, are thrown', () => {
  const other = callsOf('EMFILE');
  assert.equal(other.calls, 1);
  assert.equal((other.result as NodeJS.ErrnoException).code, 'EMFILE');
  const interrupted = callsOf('EINTR');
  assert.equal(interrupted.calls, 10);
  assert.equal((interrupted.result as NodeJS.ErrnoException).code, 'EINTR');
});
