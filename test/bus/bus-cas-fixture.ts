// A real CAS over HTTPS (sim backend) whose policy declares bus channels, and services started with
// startService(): what the end-to-end bus tests run against.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instanceClientCert } from '../../src/bus/index.ts';
import {
  type CasClient,
  CasService,
  createCasClient,
  generateUserKey,
  loadUserKey,
  signPolicy,
  startCasServer,
} from '../../src/cas/index.ts';
import { type AttestedService, startService } from '../../src/platform/index.ts';
import { createSimBackend, measureService } from '../../src/tee/index.ts';

export const BUS_SERVICES = ['mdc', 'billing', 'reports'] as const;
export type BusService = (typeof BUS_SERVICES)[number];

export interface BusCas {
  readonly url: string;
  readonly rootPem: string;
  /** Attests `name` (sim) and returns the service and a CAS client using its instance certificate. */
  start(name: BusService): Promise<{ service: AttestedService; cas: CasClient }>;
  close(): Promise<void>;
}

/** Starts a CAS with channel `readings` (mdc publishes, billing subscribes; reports is on no channel). */
export async function startBusCas(): Promise<BusCas> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-bus-'));
  const code: Record<string, string> = {};
  const services: Record<string, unknown> = {};
  for (const name of BUS_SERVICES) {
    code[name] = join(dir, `${name}.js`);
    await writeFile(code[name], `console.log(${JSON.stringify(name)});\n`);
    const { measurement } = await measureService(code[name]);
    services[name] = {
      accept: [{ measurement }],
      platforms: ['sim'],
      allowSimulation: true,
      maxInstances: 4,
    };
  }
  const backend = await createSimBackend({ measurement: 'ca'.repeat(32), stateDir: join(dir, 'cas-sim') });
  const cas = await CasService.open({ dataDir: join(dir, 'cas'), backend, measurement: 'ca'.repeat(32) });
  const owner = generateUserKey('owner');
  const text = JSON.stringify({
    version: 1,
    name: 'bus-test',
    predecessor: null,
    users: { owner: { certificate: owner.certificatePem, roles: ['owner'] } },
    roles: { owner: { can: ['update-policy'] } },
    services,
    channels: { readings: { publishers: ['mdc'], subscribers: ['billing'] } },
  });
  await cas.applyPolicy(text, [
    { user: 'owner', signature: signPolicy(text, loadUserKey(owner.pem).privateKey) },
  ]);
  const server = await startCasServer(cas, { port: 0 });
  const started: Array<{ service: AttestedService; cas: CasClient }> = [];
  return {
    url: server.url,
    rootPem: cas.rootPem,
    async start(name) {
      const service = await startService({
        name,
        casUrl: server.url,
        casRootPem: cas.rootPem,
        tee: 'sim',
        measurePath: code[name],
        simStateDir: join(dir, 'service-sim'),
        heartbeat: false,
      });
      const client = createCasClient({
        url: server.url,
        rootPem: cas.rootPem,
        clientCert: instanceClientCert(service),
      });
      started.push({ service, cas: client });
      return { service, cas: client };
    },
    async close() {
      for (const s of started) {
        s.cas.close();
        await s.service.close();
      }
      await server.close({ deadlineMs: 1000 });
      await cas.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
