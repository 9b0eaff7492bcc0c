/** Cryptographic helpers shared by every context; see README.md. */
export { type FreshKeyPair, type FreshKeyType, freshKeyPair, freshRawKeyPair } from './fresh-keys.ts';
