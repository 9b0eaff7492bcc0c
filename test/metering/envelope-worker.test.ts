// The MDC's envelope jobs (envelope-jobs.ts) and worker thread (envelope-worker.ts): the same bytes as
// the session's own seal and open, tag failures reported per message, keys zeroed after a job, jobs
// answered in order, and nothing lost when the worker stops with jobs pending.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeResults, encodeJob, type JobItem, runJob } from '../../src/metering/mdc/envelope-jobs.ts';
import { EnvelopeWorker } from '../../src/metering/mdc/envelope-worker.ts';
import { openSealed, sealInPlace } from '../../src/metering/protocol/envelope-aead.ts';
import { type DataHeader, openData, sealData } from '../../src/metering/protocol/index.ts';

const SESSION = '0123456789abcdef';

/** `n` meters' keys and the 258-byte plaintexts they send (random), sealed with `sealData`. */
function fleet(n: number): Array<{ key: Buffer; plaintext: Buffer; envelope: Buffer; header: DataHeader }> {
  return Array.from({ length: n }, (_, i) => {
    const key = randomBytes(32);
    const plaintext = randomBytes(258);
    const meterId = String(i + 1).padStart(8, '0');
    const counter = 1 + i * 7;
    const envelope = sealData('dataUp', key, meterId, SESSION, counter, plaintext);
    return {
      key,
      plaintext,
      envelope,
      header: { direction: 'dataUp', meterId, sessionId: SESSION, counter },
    };
  });
}

/** Envelope layouts to seal in place (header ‖ plaintext ‖ room for the tag) and what sealData makes. */
function toSeal(n: number): Array<{ item: JobItem; expected: Buffer }> {
  return Array.from({ length: n }, (_, i) => {
    const key = randomBytes(32);
    const plaintext = randomBytes(66);
    const expected = sealData('dataDown', key, String(i + 1).padStart(8, '0'), SESSION, i + 1, plaintext);
    const message = Buffer.from(expected);
    message.set(plaintext, 22);
    message.fill(0, message.length - 16);
    return { item: { key, message }, expected };
  });
}

describe('envelope jobs', () => {
  it('opens what sealData sealed, and seals in place exactly as sealData does', () => {
    const f = fleet(50);
    const opened = decodeResults(
      runJob(
        encodeJob(
          'open',
          'dataUp',
          f.map((m) => ({ key: m.key, message: m.envelope })),
        ),
      ),
      f.length,
    );
    opened.forEach((p, i) => {
      assert.deepEqual(Buffer.from(p!), f[i]!.plaintext);
      assert.deepEqual(Buffer.from(p!), Buffer.from(openData(f[i]!.envelope, f[i]!.header, f[i]!.key)));
    });
    const s = toSeal(50);
    const sealed = decodeResults(
      runJob(
        encodeJob(
          'seal',
          'dataDown',
          s.map((x) => x.item),
        ),
      ),
      s.length,
    );
    sealed.forEach((m, i) => {
      assert.deepEqual(Buffer.from(m!), s[i]!.expected);
    });
  });

  it('reports each message whose tag does not match as null, and opens the others', () => {
    const f = fleet(6);
    const items = f.map((m) => ({ key: m.key, message: Buffer.from(m.envelope) }));
    items[1]!.message[30]! ^= 1; // ciphertext
    items[2]!.message[15]! ^= 1; // counter (in the nonce and the AAD)
    items[3]!.message[items[3]!.message.length - 1]! ^= 1; // tag
    items[4] = { key: f[5]!.key, message: items[4]!.message }; // another meter's key
    const opened = decodeResults(runJob(encodeJob('open', 'dataUp', items)), items.length);
    assert.deepEqual(
      opened.map((p) => p !== null),
      [true, false, false, false, false, true],
    );
    assert.deepEqual(Buffer.from(opened[5]!), f[5]!.plaintext);
  });

  it('zeroes the job (keys and messages) once it has run', () => {
    const f = fleet(3);
    const job = encodeJob(
      'open',
      'dataUp',
      f.map((m) => ({ key: m.key, message: m.envelope })),
    );
    assert.ok(new Uint8Array(job).some((b) => b !== 0));
    runJob(job);
    assert.ok(new Uint8Array(job).every((b) => b === 0));
  });

  it('refuses malformed jobs and results with a TypeError', () => {
    assert.throws(() => runJob(new ArrayBuffer(3)), TypeError);
    const bad = new Uint8Array(
      encodeJob('open', 'dataUp', [{ key: randomBytes(32), message: randomBytes(40) }]),
    );
    bad[0] = 9;
    assert.throws(() => runJob(bad.buffer), TypeError);
    const truncated = encodeJob('open', 'dataUp', [{ key: randomBytes(32), message: randomBytes(40) }]);
    new DataView(truncated).setUint32(2, 2, true); // says two messages, holds one
    assert.throws(() => runJob(truncated), /truncated/);
    assert.throws(() => decodeResults(new ArrayBuffer(2), 1), /truncated/);
    assert.throws(
      () => encodeJob('seal', 'dataDown', [{ key: randomBytes(16), message: randomBytes(104) }]),
      TypeError,
    );
  });

  it('openSealed and sealInPlace round-trip and refuse a message shorter than header and tag', () => {
    const key = randomBytes(32);
    const message = Buffer.concat([randomBytes(22), randomBytes(100), Buffer.alloc(16)]);
    const plaintext = Buffer.from(message.subarray(22, 122));
    sealInPlace('dataUp', key, message);
    assert.notDeepEqual(Buffer.from(message.subarray(22, 122)), plaintext);
    assert.deepEqual(Buffer.from(openSealed('dataUp', key, message)!), plaintext);
    assert.equal(openSealed('dataDown', key, message), undefined); // the direction is in the nonce
    assert.equal(openSealed('dataUp', key, randomBytes(37)), undefined);
    assert.throws(() => sealInPlace('dataUp', key, randomBytes(37)), TypeError);
  });
});

describe('EnvelopeWorker', () => {
  let worker: EnvelopeWorker;
  before(async () => {
    worker = await EnvelopeWorker.start();
  });
  after(async () => {
    await worker.close();
  });

  it('gives the same results as the jobs run inline, for jobs sent back to back', async () => {
    const f = fleet(200);
    const s = toSeal(200);
    const jobs = [0, 50, 100, 150].map((k) => ({
      open: f.slice(k, k + 50).map((m) => ({ key: m.key, message: m.envelope })),
      seal: s.slice(k, k + 50).map((x) => ({ key: x.item.key, message: Buffer.from(x.item.message) })),
    }));
    const answers = await Promise.all(
      jobs.flatMap((j) => [worker.run('open', 'dataUp', j.open), worker.run('seal', 'dataDown', j.seal)]),
    );
    assert.equal(worker.alive, true);
    const opened = answers.filter((_, i) => i % 2 === 0).flat();
    const sealed = answers.filter((_, i) => i % 2 === 1).flat();
    assert.deepEqual(
      opened.map((p) => Buffer.from(p!)),
      f.map((m) => m.plaintext),
    );
    assert.deepEqual(
      sealed.map((m) => Buffer.from(m!)),
      s.map((x) => x.expected),
    );
  });

  it('copies the keys when a job is sent: a key changed afterwards does not affect it', async () => {
    const f = fleet(1);
    const key = Buffer.from(f[0]!.key);
    const pending = worker.run('open', 'dataUp', [{ key, message: f[0]!.envelope }]);
    key.fill(0);
    const [p] = await pending;
    assert.deepEqual(Buffer.from(p!), f[0]!.plaintext);
  });
});

describe('EnvelopeWorker stopped with jobs pending', () => {
  it('runs the jobs it had not answered inline, and later jobs too', async () => {
    const worker = await EnvelopeWorker.start();
    const f = fleet(300);
    const pending = [0, 100, 200].map((k) =>
      worker.run(
        'open',
        'dataUp',
        f.slice(k, k + 100).map((m) => ({ key: m.key, message: m.envelope })),
      ),
    );
    const closing = worker.close();
    assert.equal(worker.alive, false);
    const later = worker.run('open', 'dataUp', [{ key: f[0]!.key, message: f[0]!.envelope }]);
    const opened = (await Promise.all(pending)).flat();
    await closing;
    assert.deepEqual(
      opened.map((p) => Buffer.from(p!)),
      f.map((m) => m.plaintext),
    );
    assert.deepEqual(Buffer.from((await later)[0]!), f[0]!.plaintext);
  });
});
