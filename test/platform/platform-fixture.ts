// Shared set-up of the platform tests: a real CAS (CasService + HTTPS server, sim backend) in a
// temp dir, a signed policy for a few services, and service "code" files whose measurements the
// policy accepts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CasService, generateUserKey, loadUserKey, signPolicy, startCasServer } from '../../src/cas/index.ts';
import { createSimBackend, measureService } from '../../src/tee/index.ts';

/** Source text of each test service's code file (what the sim backend measures). */
export const SERVICE_CODE = {
  mdc: 'console.log("mdc");\n',
  billing: 'console.log("billing");\n',
  reports: 'console.log("reports");\n',
  single: 'console.log("single");\n',
} as const;

export type ServiceName = keyof typeof SERVICE_CODE;

/** A running CAS with the test policy applied. */
export interface TestCas {
  readonly dir: string;
  readonly url: string;
  readonly rootPem: string;
  /** `DIR/root.pem`, what `--cas-root` takes. */
  readonly rootFile: string;
  /** Where the services' sim platform key lives. */
  readonly simStateDir: string;
  readonly cas: CasService;
  /** The code file of each service. */
  readonly code: Readonly<Record<ServiceName, string>>;
  /** SPKI DER of the policy owner (to read secrets as a user). */
  readonly ownerSpki: Buffer;
  close(): Promise<void>;
}

/** Extra service definitions merged into the policy's `services`. */
export type ExtraServices = Record<string, Record<string, unknown>>;

/** Options of {@link startTestCas}. */
export interface TestCasOptions {
  /** Replaces the code of some services (e.g. with a script a test runs). */
  readonly code?: Partial<Record<ServiceName, string>>;
  readonly extraServices?: ExtraServices;
}

/** Starts a CAS in a fresh temp dir, applies the test policy, returns what tests need. */
export async function startTestCas(options: TestCasOptions = {}): Promise<TestCas> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-platform-'));
  const code = {} as Record<ServiceName, string>;
  const measurements = {} as Record<ServiceName, string>;
  for (const [name, text] of Object.entries({ ...SERVICE_CODE, ...options.code }) as [
    ServiceName,
    string,
  ][]) {
    code[name] = join(dir, `${name}.js`);
    await writeFile(code[name], text);
    measurements[name] = (await measureService(code[name])).measurement;
  }
  const backend = await createSimBackend({ measurement: 'ca'.repeat(32), stateDir: join(dir, 'cas-sim') });
  const casDir = join(dir, 'cas');
  const cas = await CasService.open({ dataDir: casDir, backend, measurement: 'ca'.repeat(32) });
  const owner = generateUserKey('owner');
  const ownerKey = loadUserKey(owner.pem);
  const text = JSON.stringify(
    testPolicy(owner.certificatePem, measurements, options.extraServices ?? {}),
    null,
    2,
  );
  await cas.applyPolicy(text, [{ user: 'owner', signature: signPolicy(text, ownerKey.privateKey) }]);
  const server = await startCasServer(cas, { port: 0 });
  return {
    dir,
    url: server.url,
    rootPem: cas.rootPem,
    rootFile: join(casDir, 'root.pem'),
    simStateDir: join(dir, 'service-sim'),
    cas,
    code,
    ownerSpki: ownerKey.publicKeySpki,
    close: async () => {
      await server.close({ deadlineMs: 1000 });
      await cas.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function service(measurement: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { accept: [{ measurement }], platforms: ['sim'], allowSimulation: true, maxInstances: 4, ...extra };
}

function testPolicy(
  ownerCert: string,
  m: Record<ServiceName, string>,
  extra: ExtraServices,
): Record<string, unknown> {
  return {
    version: 1,
    name: 'platform-test',
    predecessor: null,
    users: { owner: { certificate: ownerCert, roles: ['owner'] } },
    roles: { owner: { can: ['update-policy', 'read-secret'] } },
    services: {
      mdc: service(m.mdc, {
        env: {
          DB_KEY: '{{ secrets.dbKey.hex }}',
          TLS_KEY: '{{ self.privateKey.pem }}',
          TLS_CERT_FILE: '/run/secrets/tls.pem',
          WHO: '{{ self.name }}/{{ self.instanceId }}',
        },
        files: {
          '/run/secrets/tls.pem': '{{ self.certificate.pem }}',
          '/run/secrets/key.pem': '{{ self.privateKey.pem }}',
          '/etc/mdc/db.conf': 'password={{ secrets.dbPassword.value }}\n',
        },
        args: ['--db-password', '{{ secrets.dbPassword.value }}'],
      }),
      billing: service(m.billing, { env: { BILLING_KEY: '{{ secrets.billingKey.base64 }}' } }),
      reports: service(m.reports),
      single: service(m.single, { maxInstances: 1 }),
      ...extra,
    },
    secrets: {
      dbKey: { type: 'symmetric-key', bits: 256 },
      dbPassword: { type: 'password' },
      billingKey: { type: 'symmetric-key', bits: 256 },
    },
  };
}
