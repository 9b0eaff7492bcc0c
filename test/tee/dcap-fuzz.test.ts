import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuote } from '../../src/tee/dcap/quote.ts';
import { createDcapVerifier } from '../../src/tee/dcap/verifier.ts';
import type { TeeErrorCode } from '../../src/tee/errors.ts';
import { prng } from '../support/prng.ts';
import { assertTeeError, sgxVector, tdxVector, vector } from './dcap-test-vectors.ts';

const PARSE_CODES: readonly TeeErrorCode[] = [
  'ERR_EVIDENCE_TRUNCATED',
  'ERR_EVIDENCE_MALFORMED',
  'ERR_EVIDENCE_FORMAT',
];

const verifier = createDcapVerifier();

/** Offsets of the length fields (signature data, [outer certification data,] QE auth data, PCK chain). */
function lengthFields(quote: Buffer, version: number): number[] {
  if (version === 3) return [432, 1012, 1014 + quote.readUInt16LE(1012) + 2];
  const auth = 636 + 128 + 6 + 448;
  return [632, 766, auth, auth + 2 + quote.readUInt16LE(auth) + 2];
}

function mutate(original: Buffer, version: number, rand: () => number): Buffer {
  const pick = (n: number) => Math.floor(rand() * n);
  const q = Buffer.from(original);
  switch (pick(4)) {
    case 0: {
      for (let i = 0, n = 1 + pick(4); i < n; i++) q[pick(q.length)] = pick(256);
      return q;
    }
    case 1:
      return q.subarray(0, pick(q.length));
    case 2: {
      const fields = lengthFields(original, version);
      const at = fields[pick(fields.length)]!;
      const delta = [1, -1, 2, 64, 0x10000, -0x10000][pick(6)]!;
      q.writeUInt16LE((q.readUInt16LE(at) + delta + 0x10000) & 0xffff, at);
      return q;
    }
    default: {
      const extra = Buffer.alloc(1 + pick(16), pick(2) === 0 ? 0 : 1 + pick(255));
      return Buffer.concat([q, extra]);
    }
  }
}

/** Asserts that a genuine result kept every signed or binding part of the original intact. */
function assertSignedPartsIntact(original: Buffer, mutated: Buffer): void {
  const a = parseQuote(original);
  const b = parseQuote(mutated);
  assert.ok(
    a.signedData.equals(b.signedData) &&
      a.signature.equals(b.signature) &&
      a.attestationKey.equals(b.attestationKey),
  );
  assert.ok(a.qe!.report.equals(b.qe!.report) && a.qe!.authData.equals(b.qe!.authData));
}

describe('unit: DCAP robustness against hostile bytes', () => {
  for (const [label, load] of [
    ['SGX v3', sgxVector],
    ['TDX v4', tdxVector],
  ] as const) {
    it(`gives a parse TeeError for every truncation of the ${label} quote before its end`, async () => {
      const { quote, dcap, at } = load();
      const signedLength = parseQuote(quote).signedData.length;
      const end = signedLength + 4 + quote.readUInt32LE(signedLength);
      for (let n = end; n < quote.length; n++) {
        // Only zero padding follows the signature data (the TDX vector has 70 such bytes).
        assert.equal(
          (await verifier.verify(quote.subarray(0, n), { at, collateral: { dcap } })).genuine,
          true,
        );
      }
      for (let n = 0; n < end; n++) {
        await assert.rejects(verifier.verify(quote.subarray(0, n), { at, collateral: { dcap } }), (err) => {
          assertTeeError(err, PARSE_CODES);
          return true;
        });
      }
    });
  }

  it('gives a TeeError or a refusal, never another exception, for random bytes', async () => {
    const rand = prng(7);
    const at = new Date('2025-06-20T00:00:00Z');
    const sgxHeader = vector('dcap-qvl/sgx_quote').subarray(0, 48);
    for (let i = 0; i < 600; i++) {
      const bytes = Buffer.from(
        Array.from({ length: Math.floor(rand() * 2000) }, () => Math.floor(rand() * 256)),
      );
      if (i % 2 === 0 && bytes.length >= 48) sgxHeader.copy(bytes);
      try {
        const result = await verifier.verify(bytes, { at });
        assert.ok(result.refusal !== null);
      } catch (err) {
        assertTeeError(err, PARSE_CODES);
      }
      try {
        verifier.inspect(bytes);
      } catch (err) {
        assertTeeError(err, PARSE_CODES);
      }
    }
  });

  it('survives 4000 seeded mutations: each is a TeeError, a refusal, or genuine with its signed parts intact', async () => {
    const rand = prng(20250620);
    const vectors = [sgxVector(), tdxVector()];
    let genuine = 0;
    for (let i = 0; i < 4000; i++) {
      const { quote, dcap, at } = vectors[i % 2]!;
      const mutated = mutate(quote, i % 2 === 0 ? 3 : 4, rand);
      let result: Awaited<ReturnType<typeof verifier.verify>>;
      try {
        result = await verifier.verify(mutated, { at, collateral: { dcap } });
      } catch (err) {
        assertTeeError(err, PARSE_CODES);
        continue;
      }
      if (result.genuine) {
        genuine++;
        assertSignedPartsIntact(quote, mutated);
      } else {
        assert.ok(result.refusal, 'a quote that is not genuine carries a refusal');
      }
    }
    assert.ok(genuine < 4000);
  });

  it('gives a refusal, never an exception, for truncated or altered collateral of every kind', async () => {
    const { quote, dcap, at } = sgxVector();
    const rand = prng(42);
    const fields = [
      'tcbInfo',
      'tcbInfoSignature',
      'tcbInfoIssuerChain',
      'qeIdentity',
      'qeIdentitySignature',
      'qeIdentityIssuerChain',
      'pckCrl',
      'pckCrlIssuerChain',
      'rootCaCrl',
    ] as const;
    for (let i = 0; i < 900; i++) {
      const field = fields[i % fields.length]!;
      const value = dcap[field]!;
      const bytes = Buffer.from(typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
      const cut = bytes.subarray(0, Math.floor(rand() * bytes.length));
      if (i % 2 === 1 && cut.length > 0) {
        const at = Math.floor(rand() * cut.length);
        cut[at] = cut[at]! ^ (1 + Math.floor(rand() * 255));
      }
      const altered = typeof value === 'string' ? cut.toString('latin1') : cut;
      const result = await verifier.verify(quote, {
        at,
        collateral: { dcap: { ...dcap, [field]: altered } },
      });
      assert.equal(result.genuine, false, `${field} cut to ${cut.length} bytes`);
      assert.ok(result.refusal);
    }
  });
});
