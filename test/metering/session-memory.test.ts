import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type CounterVerdict, CounterWindow } from '../../src/metering/protocol/counter-window.ts';
import { isMeteringError } from '../../src/metering/protocol/errors.ts';
import {
  DEFAULT_SESSION_LIMITS,
  liveSessionSlots,
  parseDataHeader,
  SecureSession,
} from '../../src/metering/protocol/secure-session.ts';
import { SlotSlab } from '../../src/metering/protocol/session-slab.ts';
import { prng } from '../support/prng.ts';

/** The window as a set of accepted counters: the specification the bitmap must match. */
class ReferenceWindow {
  readonly accepted = new Set<number>();
  highest = 0;
  constructor(readonly size: number) {}
  check(c: number): CounterVerdict {
    if (c > this.highest) return 'fresh';
    if (c <= this.highest - this.size) return 'reordered';
    return this.accepted.has(c) ? 'replayed' : 'fresh';
  }
  commit(c: number): void {
    this.accepted.add(c);
    this.highest = Math.max(this.highest, c);
  }
}

const session = (side: 'meter' | 'mdc', window = 64, keys = { up: randomBytes(32), down: randomBytes(32) }) =>
  new SecureSession({
    meterId: '00012345',
    sessionId: randomBytes(8).toString('hex'),
    establishedAt: Date.now(),
    keys: { up: Buffer.from(keys.up), down: Buffer.from(keys.down) },
    side,
    limits: { ...DEFAULT_SESSION_LIMITS, window },
  });

describe('session memory', () => {
  it('a slab hands out zeroed slots and reuses freed ones, zeroed again', () => {
    const slab = new SlotSlab(72, 4);
    const slots = Array.from({ length: 9 }, () => slab.alloc());
    assert.deepEqual(slots, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(slab.live, 9);
    for (const s of slots) slab.view(s, 0, 72).fill(s + 1);
    assert.deepEqual([...slab.view(5, 0, 72)], new Array(72).fill(6), 'slots do not overlap');
    slab.free(5);
    assert.equal(slab.live, 8);
    const again = slab.alloc();
    assert.equal(again, 5);
    assert.ok(
      slab.view(again, 0, 72).every((b) => b === 0),
      'a reused slot starts zeroed',
    );
    assert.deepEqual([...slab.view(4, 0, 72)], new Array(72).fill(5), 'its neighbours are untouched');
  });

  for (const size of [1, 5, 8, 64, 100]) {
    it(`the replay bitmap of a ${size}-counter window agrees with the reference on random counters`, () => {
      const rand = prng(size);
      const w = new CounterWindow(size);
      const ref = new ReferenceWindow(size);
      for (let i = 0; i < 5000; i++) {
        // mostly small steps forwards and back, sometimes a jump past the window
        const base = ref.highest;
        const c = Math.max(
          1,
          base + Math.floor(rand() * (3 * size + 4)) - 2 * size - 2 + (rand() < 0.05 ? 5 * size : 0),
        );
        const verdict = w.check(c);
        assert.equal(verdict, ref.check(c), `counter ${c} after highest ${base}`);
        if (verdict === 'fresh') {
          w.commit(c);
          ref.commit(c);
        }
        assert.equal(w.highest, ref.highest);
      }
    });
  }

  it('a destroyed session refuses to seal or open, and a late commit does not touch the slot its successor got', () => {
    const keys = { up: randomBytes(32), down: randomBytes(32) };
    const meter = session('meter', 64, keys);
    const before = liveSessionSlots();
    const old = session('mdc', 64, keys);
    const envelope = meter.seal(new Uint8Array(258));
    const header = parseDataHeader(envelope, 'dataUp');
    old.open(envelope, header, Date.now(), { commit: false });
    old.destroy();
    old.destroy(); // twice is harmless
    assert.equal(liveSessionSlots(), before);
    const closed = (e: unknown) => isMeteringError(e) && e.code === 'ERR_SESSION_UNKNOWN';
    assert.throws(() => old.seal(new Uint8Array(66)), closed);
    assert.throws(() => old.open(envelope, header, Date.now()), closed);
    // Its slot now belongs to a new session with the same keys; the old session's deferred commit
    // must not mark counter 1 as seen there.
    const successor = session('mdc', 64, keys);
    old.commitCounter(header.counter);
    assert.equal(successor.open(envelope, header, Date.now()).length, 258);
    successor.destroy();
    meter.destroy();
  });

  it('takes its keys out of the caller buffers (zeroed) and never reuses them after destroy', () => {
    const keys = { up: randomBytes(32), down: randomBytes(32) };
    const up = Buffer.from(keys.up);
    const down = Buffer.from(keys.down);
    const s = new SecureSession({
      meterId: '00012345',
      sessionId: '0011223344556677',
      establishedAt: Date.now(),
      keys: { up, down },
      side: 'meter',
      limits: DEFAULT_SESSION_LIMITS,
    });
    assert.ok(up.every((b) => b === 0) && down.every((b) => b === 0));
    s.destroy();
  });
});
