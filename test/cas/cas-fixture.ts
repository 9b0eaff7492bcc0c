// Shared set-up of the CAS tests: a CAS on the sim backend in a temp dir, users, policies, and
// sim services that attest with real sim evidence.
import type { KeyObject } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttestInput } from '../../src/cas/attestation.ts';
import type { CasLogger } from '../../src/cas/cas-log.ts';
import { CasService, type CasServiceOptions } from '../../src/cas/cas-service.ts';
import { bindingReportData } from '../../src/cas/protocol.ts';
import { generateUserKey, loadUserKey, signPolicy } from '../../src/cas/user-keys.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createSimBackend, type SimBackendOptions } from '../../src/tee/index.ts';

export const CAS_MEASUREMENT = 'ca'.repeat(32);
export const MDC = '11'.repeat(32);
export const BILLING = '22'.repeat(32);
export const OTHER = '33'.repeat(32);

/** A user: its key file and what the CAS sees of it. */
export interface TestUser {
  readonly name: string;
  readonly pem: string;
  readonly certificatePem: string;
  readonly key: KeyObject;
  /** SPKI DER of the user's key: what the server passes as the caller. */
  readonly spki: Buffer;
}

export function makeUser(name: string): TestUser {
  const { pem, certificatePem } = generateUserKey(name);
  const loaded = loadUserKey(pem);
  return { name, pem, certificatePem, key: loaded.privateKey, spki: loaded.publicKeySpki };
}

/** Users made once per test file (P-256 key generation is cheap, certificates less so). */
export const owner = makeUser('owner');
export const second = makeUser('second');
export const reader = makeUser('reader');

export async function tempDir(prefix = 'cas-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Collects log lines in memory. */
export function memoryLogger(): CasLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (level, msg, fields = {}) => {
      lines.push(JSON.stringify({ level, msg, ...fields }));
    },
  };
}

/** Opens a CAS on the sim backend in `dir`. */
export async function openCas(dir: string, options: Partial<CasServiceOptions> = {}): Promise<CasService> {
  const backend = await createSimBackend({
    measurement: CAS_MEASUREMENT,
    stateDir: join(dir, 'sim-platform'),
  });
  return CasService.open({ dataDir: dir, backend, measurement: CAS_MEASUREMENT, ...options });
}

/** The smart-metering test policy as a plain object (JSON text is a valid policy document). */
export function basePolicy(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    name: 'smart-metering',
    predecessor: null,
    users: {
      owner: { certificate: owner.certificatePem, roles: ['owner'] },
      second: { certificate: second.certificatePem, roles: ['owner'] },
      reader: { certificate: reader.certificatePem, roles: ['auditor'] },
    },
    roles: {
      owner: { can: ['update-policy', 'write-secret', 'read-secret', 'read-audit'] },
      auditor: { can: ['read-audit'] },
    },
    services: {
      mdc: {
        accept: [{ measurement: MDC }],
        platforms: ['sim'],
        allowSimulation: true,
        maxInstances: 2,
        env: { DB_KEY: '{{ secrets.dbKey.hex }}', INMETRO_KEY: '{{ secrets.inmetro.privatePem }}' },
        files: {
          '/run/secrets/tls.pem': '{{ self.certificate.pem }}',
          '/run/secrets/key.pem': '{{ self.privateKey.pem }}',
        },
        args: ['--instance', '{{ self.instanceId }}'],
      },
      billing: {
        accept: [{ signer: BILLING, productId: 7, minSvn: 2 }],
        allowSimulation: true,
        env: { DB_PASSWORD: '{{ secrets.dbPassword.value }}' },
      },
    },
    secrets: {
      dbKey: { type: 'symmetric-key', bits: 256 },
      dbPassword: { type: 'password' },
      inmetro: { type: 'key-pair', algorithm: 'ed25519' },
      apiCert: { type: 'certificate', dnsNames: ['mdc'], validDays: 30 },
      utilityToken: { type: 'user-provided' },
    },
    ...overrides,
  };
}

/** Policy text signed by `signers`. */
export function signed(text: string, ...signers: TestUser[]): { user: string; signature: string }[] {
  return signers.map((u) => ({ user: u.name, signature: signPolicy(text, u.key) }));
}

/** Applies `policy` (object or text) signed by `signers` (default: owner). */
export async function apply(
  cas: CasService,
  policy: Record<string, unknown> | string,
  ...signers: TestUser[]
) {
  const text = typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2);
  return cas.applyPolicy(text, signed(text, ...(signers.length > 0 ? signers : [owner])));
}

/** A sim "service": produces evidence for its identity, bound to a fresh P-256 key and the nonce. */
export async function simService(
  dir: string,
  identity: Omit<SimBackendOptions, 'stateDir' | 'signal'>,
): Promise<{
  request(
    cas: CasService,
    service: string,
    tweak?: { nonce?: string; key?: KeyObject },
  ): Promise<AttestInput>;
}> {
  const backend = await createSimBackend({ ...identity, stateDir: join(dir, 'sim-platform') });
  return {
    async request(cas, service, tweak = {}) {
      const { nonce } = cas.createNonce(service);
      const { publicKey } = freshKeyPair('p256');
      const bound = tweak.key ?? publicKey;
      const reportData = bindingReportData(
        bound.export({ type: 'spki', format: 'der' }),
        Buffer.from(tweak.nonce ?? nonce, 'hex'),
      );
      return {
        service,
        nonce,
        evidence: await backend.getEvidence(reportData),
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      };
    },
  };
}
