/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) for the server side of PostgreSQL's SASL authentication.
 * Only the salted verifier (salt, iterations, StoredKey, ServerKey) is kept; the password is
 * dropped as soon as the verifier is derived. Channel binding is not offered (`n` or `y` only).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** The salted verifier of one password (what PostgreSQL stores in pg_authid). */
export interface ScramVerifier {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** Derives the verifier of a password (SASLprep is not applied: ASCII passwords are unaffected). */
export function createScramVerifier(password: string, iterations = 4096): ScramVerifier {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const verifier = {
    salt,
    iterations,
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(salted, 'Server Key'),
  };
  salted.fill(0);
  clientKey.fill(0);
  return verifier;
}

/** Why a SCRAM exchange failed: malformed messages are 08P01, a wrong proof 28P01. */
export class ScramError extends Error {
  override readonly name = 'ScramError';
  readonly sqlstate: '08P01' | '28P01';

  constructor(message: string, sqlstate: '08P01' | '28P01') {
    super(message);
    this.sqlstate = sqlstate;
  }
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new ScramError('malformed SCRAM message', '08P01');
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/**
 * One server-side exchange: `first(clientFirst)` → server-first message, then
 * `final(clientFinal)` → server-final message, or a {@link ScramError}. A user that does not exist
 * gets a fake verifier, so the exchange fails only at the proof, like a wrong password.
 */
export class ScramExchange {
  readonly #verifier: ScramVerifier;
  #clientFirstBare = '';
  #serverFirst = '';
  #gs2 = '';
  #nonce = '';

  constructor(verifier: ScramVerifier) {
    this.#verifier = verifier;
  }

  first(clientFirst: string): string {
    const m = /^([ny]|p=[^,]*),([^,]*),(.*)$/.exec(clientFirst);
    if (m === null) throw new ScramError('malformed SCRAM client-first message', '08P01');
    if (m[1]!.startsWith('p=')) {
      throw new ScramError('channel binding is not supported; connect without it', '08P01');
    }
    this.#gs2 = `${m[1]},${m[2]},`;
    this.#clientFirstBare = m[3]!;
    const clientNonce = attributes(this.#clientFirstBare).get('r');
    if (clientNonce === undefined || clientNonce.length === 0 || /[^\x21-\x2b\x2d-\x7e]/.test(clientNonce)) {
      throw new ScramError('malformed SCRAM nonce', '08P01');
    }
    this.#nonce = clientNonce + randomBytes(18).toString('base64');
    const v = this.#verifier;
    this.#serverFirst = `r=${this.#nonce},s=${v.salt.toString('base64')},i=${v.iterations}`;
    return this.#serverFirst;
  }

  final(clientFinal: string): string {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramError('malformed SCRAM client-final message', '08P01');
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (attrs.get('c') !== Buffer.from(this.#gs2).toString('base64')) {
      throw new ScramError('SCRAM channel binding does not match', '08P01');
    }
    if (attrs.get('r') !== this.#nonce) throw new ScramError('SCRAM nonce does not match', '08P01');
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const v = this.#verifier;
    const signature = hmac(v.storedKey, authMessage);
    if (proof.length !== signature.length) throw new ScramError('password authentication failed', '28P01');
    const clientKey = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    const ok = timingSafeEqual(createHash('sha256').update(clientKey).digest(), v.storedKey);
    clientKey.fill(0);
    if (!ok) throw new ScramError('password authentication failed', '28P01');
    return `v=${hmac(v.serverKey, authMessage).toString('base64')}`;
  }
}
