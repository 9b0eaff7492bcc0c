/** Shared by the CAS core tests: user keys and the example policy of issue 3 (smart metering). */
import type { KeyObject } from 'node:crypto';
import { generateUserKey, loadUserKey } from '../../src/cas/user-keys.ts';

export interface TestUser {
  readonly name: string;
  readonly pem: string;
  readonly certificatePem: string;
  readonly privateKey: KeyObject;
  readonly spki: Buffer;
}

/** A P-256 user key, as `securecloud cas users keygen` makes it. */
export function makeUser(name: string): TestUser {
  const { pem, certificatePem } = generateUserKey(name);
  const { privateKey, publicKeySpki } = loadUserKey(pem);
  return { name, pem, certificatePem, privateKey, spki: publicKeySpki };
}

/** A PEM as a YAML block scalar body, indented by `spaces`. */
export function yamlBlock(pem: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return pem
    .trimEnd()
    .split('\n')
    .map((l) => `${pad}${l}`)
    .join('\n');
}

export const MEASUREMENT = 'ab'.repeat(32);
export const SIGNER = 'cd'.repeat(32);

/** The example policy of issue 3, with real user certificates. */
export function examplePolicy(operator: TestUser, auditor: TestUser): string {
  return `version: 1
name: smart-metering
predecessor: null
users:
  operator:
    certificate: |
${yamlBlock(operator.certificatePem, 6)}
    roles: [owner]
  auditor:
    certificate: |
${yamlBlock(auditor.certificatePem, 6)}
    roles: [audit]
roles:
  owner: { can: [update-policy, write-secret, read-secret, read-audit] }
  audit: { can: [read-audit] }
services:
  mdc:
    accept:
      - measurement: "${MEASUREMENT}"
      - { signer: "${SIGNER}", productId: 1, minSvn: 2 }
    platforms: [sgx, tdx, sev-snp, sim]
    allowSimulation: true
    allowDebug: false
    tcb: { accept: [UpToDate, SWHardeningNeeded], advisories: [] }
    maxInstances: 4
    env:   { DB_KEY: "{{ secrets.dbKey.hex }}", INMETRO_KEY: "{{ secrets.inmetro.privatePem }}" }
    files: { "/run/secrets/tls.pem": "{{ self.certificate.pem }}" }
    args:  []
secrets:
  dbKey:        { type: symmetric-key, bits: 256 }
  dbPassword:   { type: password }
  inmetro:      { type: key-pair, algorithm: ed25519 }
  apiCert:      { type: certificate, dnsNames: [mdc], validDays: 30 }
  utilityToken: { type: user-provided }
`;
}
