// CAS attestation throughput and latency with the sim backend, in process (CasService) and over
// HTTPS (server + client, keep-alive), with the share of time spent in evidence verification, against
// a baseline measured in the same run: bare sim evidence verification. Each attestation also signs a
// certificate and appends (fsync) a signed audit entry. Prints JSON.
// Usage: npm run bench -- cas [--seconds S]
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttestInput,
  bindingReportData,
  CasCa,
  CasService,
  createCasClient,
  generateUserKey,
  loadUserKey,
  signPolicy,
  startCasServer,
} from '../src/cas/index.ts';
import { freshKeyPair } from '../src/crypto/index.ts';
import {
  createDefaultVerifierSet,
  createSimBackend,
  type EvidenceVerifierSet,
  type SimBackend,
} from '../src/tee/index.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 2;
const CAS_MEASUREMENT = 'ca'.repeat(32);
const SERVICE_MEASUREMENT = '11'.repeat(32);

/** A verifier set that adds up the time spent in `verify`. */
function timedVerifiers(): EvidenceVerifierSet & { seconds: number } {
  const inner = createDefaultVerifierSet();
  const timed = {
    verifiers: inner.verifiers,
    seconds: 0,
    inspect: inner.inspect,
    verify: async (evidence: Uint8Array, options: Parameters<EvidenceVerifierSet['verify']>[1]) => {
      const start = performance.now();
      try {
        return await inner.verify(evidence, options);
      } finally {
        timed.seconds += (performance.now() - start) / 1000;
      }
    },
  };
  return timed;
}

/** The service side of one attestation (not timed): fresh key, evidence bound to key and nonce. */
async function request(service: SimBackend, nonce: string): Promise<Omit<AttestInput, 'service' | 'nonce'>> {
  const { publicKey } = freshKeyPair('p256');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    evidence: await service.getEvidence(bindingReportData(spki, Buffer.from(nonce, 'hex'))),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

function summary(latenciesMs: number[], wallMs: number) {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) =>
    Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(3));
  return {
    attestations: sorted.length,
    perSecond: Math.round((sorted.length * 1000) / wallMs),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

async function inProcess(cas: CasService, service: SimBackend, verifiers: { seconds: number }) {
  const latencies: number[] = [];
  let busy = 0;
  const end = performance.now() + seconds * 1000;
  verifiers.seconds = 0;
  while (performance.now() < end) {
    const { nonce } = cas.createNonce('mdc');
    const input = { service: 'mdc', nonce, ...(await request(service, nonce)) };
    const start = performance.now();
    const grant = await cas.attest(input);
    const ms = performance.now() - start;
    latencies.push(ms);
    busy += ms;
    cas.release(new X509Certificate(grant.certificate), grant.instanceId);
  }
  return {
    ...summary(latencies, busy),
    verificationShare: Number(((verifiers.seconds * 1000) / busy).toFixed(3)),
  };
}

async function overHttps(url: string, rootPem: string, service: SimBackend, verifiers: { seconds: number }) {
  const client = createCasClient({ url, rootPem });
  const latencies: number[] = [];
  let busy = 0;
  verifiers.seconds = 0;
  try {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const t0 = performance.now();
      const { nonce } = await client.attestNonce('mdc');
      const t1 = performance.now();
      const prepared = await request(service, nonce);
      const t2 = performance.now();
      await client.attest({ service: 'mdc', nonce, ...prepared });
      const ms = t1 - t0 + (performance.now() - t2);
      latencies.push(ms);
      busy += ms;
    }
  } finally {
    client.close();
  }
  return {
    ...summary(latencies, busy),
    verificationShare: Number(((verifiers.seconds * 1000) / busy).toFixed(3)),
  };
}

async function baseline(service: SimBackend) {
  const verifier = createDefaultVerifierSet();
  const { evidence } = await request(service, '00'.repeat(32));
  const options = { at: new Date(), allowSimulation: true };
  for (let i = 0; i < 50; i++) await verifier.verify(evidence, options);
  let runs = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await verifier.verify(evidence, options);
    runs++;
  }
  const ms = (performance.now() - start) / runs;
  return { simVerificationsPerSecond: Math.round(1000 / ms), msPer: Number(ms.toFixed(4)) };
}

/** The other fixed cost of a grant: one service certificate from the CAS CA. */
function certificateCost() {
  const ca = CasCa.create();
  const { publicKey } = freshKeyPair('p256');
  let runs = 0;
  const start = performance.now();
  const end = start + (seconds * 1000) / 4;
  while (performance.now() < end) ca.issueServiceCertificate('mdc', `i${runs++}`, publicKey);
  return { certificateIssueMs: Number(((performance.now() - start) / runs).toFixed(4)) };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-cas-'));
  const stateDir = join(dir, 'sim-platform');
  const verifiers = timedVerifiers();
  const cas = await CasService.open({
    dataDir: dir,
    backend: await createSimBackend({ measurement: CAS_MEASUREMENT, stateDir }),
    measurement: CAS_MEASUREMENT,
    verifiers,
  });
  const service = await createSimBackend({ measurement: SERVICE_MEASUREMENT, stateDir });
  try {
    const owner = generateUserKey('owner');
    const policy = JSON.stringify({
      version: 1,
      name: 'bench',
      predecessor: null,
      users: { owner: { certificate: owner.certificatePem, roles: ['owner'] } },
      roles: { owner: { can: ['update-policy'] } },
      services: {
        mdc: {
          accept: [{ measurement: SERVICE_MEASUREMENT }],
          allowSimulation: true,
          maxInstances: 100_000,
          env: { DB_KEY: '{{ secrets.dbKey.hex }}' },
        },
      },
      secrets: { dbKey: { type: 'symmetric-key', bits: 256 } },
    });
    await cas.applyPolicy(policy, [
      { user: 'owner', signature: signPolicy(policy, loadUserKey(owner.pem).privateKey) },
    ]);
    const floor = { ...(await baseline(service)), ...certificateCost() };
    const local = await inProcess(cas, service, verifiers);
    const server = await startCasServer(cas, { port: 0 });
    let https: Awaited<ReturnType<typeof overHttps>>;
    try {
      https = await overHttps(server.url, cas.rootPem, service, verifiers);
    } finally {
      await server.close();
    }
    const result = {
      benchmark: 'cas',
      node: process.version,
      seconds,
      backend: 'sim (SIMULATION)',
      note: 'each attestation: nonce check, sim evidence verification, policy appraisal, P-256 certificate, template rendering, audit append with fsync',
      baseline: floor,
      inProcess: local,
      https: {
        ...https,
        what: 'nonce request + attest request over TLS 1.3 keep-alive (evidence creation excluded)',
      },
      ratios: {
        inProcessMsOverBareVerification: Number((local.p50Ms / floor.msPer).toFixed(1)),
        certificateShareOfInProcessP50: Number((floor.certificateIssueMs / local.p50Ms).toFixed(3)),
        httpsP50OverInProcessP50: Number((https.p50Ms / local.p50Ms).toFixed(2)),
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await cas.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
