import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeInstantaneousResponse,
  decodeLoadProfileCommand,
  decodeLoadProfileResponse,
  decodeRegistersResponse,
  encodeInstantaneousResponse,
  encodeLoadProfileCommand,
  isMeteringError,
} from '../../src/metering/index.ts';
import { prng } from '../support/prng.ts';
import { pair, sampleReport, T0 } from './protocol-fixture.ts';

/** A mutated copy: flipped bytes, truncation, extension or random bytes, chosen by the PRNG. */
function mutate(source: Uint8Array, rnd: () => number): Uint8Array {
  const pick = rnd();
  if (pick < 0.1) return source.slice(0, Math.floor(rnd() * source.length));
  if (pick < 0.15) return new Uint8Array([...source, ...new Uint8Array(1 + Math.floor(rnd() * 8))]);
  if (pick < 0.2) return Uint8Array.from({ length: source.length }, () => Math.floor(rnd() * 256));
  const out = source.slice();
  const flips = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(rnd() * out.length);
    out[at] = (out[at] ?? 0) ^ (1 + Math.floor(rnd() * 255));
  }
  return out;
}

function onlyMeteringErrors(run: () => unknown, seed: number, i: number): void {
  try {
    run();
  } catch (e) {
    assert.ok(isMeteringError(e), `seed ${seed} case ${i}: ${String(e)}`);
  }
}

describe('fuzz (seeded)', () => {
  it('refuses mutated blocks with MeteringErrors only', () => {
    const seed = 14522;
    const rnd = prng(seed);
    const report = encodeInstantaneousResponse(sampleReport());
    const command = encodeLoadProfileCommand({ readerSerial: '000001', start: T0, count: 4 });
    const decoders = [decodeInstantaneousResponse, decodeRegistersResponse, decodeLoadProfileResponse];
    for (let i = 0; i < 3000; i++) {
      const mutated = mutate(report, rnd);
      for (const decode of decoders) onlyMeteringErrors(() => decode(mutated), seed, i);
      onlyMeteringErrors(() => decodeLoadProfileCommand(mutate(command, rnd)), seed, i);
    }
  });

  it('refuses mutated envelopes and handshake messages with MeteringErrors only', () => {
    const seed = 7;
    const rnd = prng(seed);
    const { meter, mdc, handshake } = pair({ maxMessages: 1_000_000 });
    const { hello, finish } = handshake();
    const report = encodeInstantaneousResponse(sampleReport());
    let opened = 0;
    for (let i = 0; i < 3000; i++) {
      const envelope = meter.seal(report);
      const mutated = mutate(envelope, rnd);
      onlyMeteringErrors(
        () => {
          mdc.open(mutated);
          opened++;
        },
        seed,
        i,
      );
      onlyMeteringErrors(() => mdc.acceptHello(mutate(hello, rnd)), seed, i);
      onlyMeteringErrors(() => mdc.acceptFinish(mutate(finish, rnd)), seed, i);
    }
    // A mutation can never open: every byte is covered by the tag or by a structural check.
    assert.equal(opened, 0);
  });
});
