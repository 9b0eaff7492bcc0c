// Child process of the deadlock regression test in fresh-keys.test.ts: generates PAIRS (argv[2])
// pairs through freshKeyPair, exports every key object to JWK, and prints the count. Run it with a
// tiny young generation (`--max-semi-space-size=1`) so the collector runs during nearly every export:
// key objects straight from node:crypto's generator hung this loop after 2,000 to 9,000 pairs.
import { createPublicKey } from 'node:crypto';
import { type FreshKeyType, freshKeyPair } from '../../src/crypto/index.ts';

const TYPES: readonly FreshKeyType[] = ['x25519', 'ed25519', 'p256'];
const pairs = Number(process.argv[2] ?? 30_000);
let exported = 0;
for (let i = 0; i < pairs; i++) {
  const p = freshKeyPair(TYPES[i % TYPES.length]!);
  createPublicKey(p.privateKey).export({ format: 'jwk' });
  p.privateKey.export({ format: 'jwk' });
  p.privateRaw.fill(0);
  exported++;
}
process.stdout.write(`${exported}\n`);
