import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  CasService,
  generateUserKey,
  isCasError,
  loadUserKey,
  signPolicy,
  startCasServer,
  verifyAuditLog,
} from '../cas/index.ts';
import { startService } from '../platform/index.ts';
import { createTeeBackend, detectTeeBackend, measureService } from '../tee/index.ts';
import { EXIT } from './io.ts';
import type { CliRun } from './main.ts';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Registers `securecloud demo`: a CAS, a signed policy, an attested service, a refused one. */
export function registerDemoCommand(program: Command, run: CliRun): void {
  program
    .command('demo')
    .description(
      'show the attested start-up of a service under the CAS on this machine (what `npm start` runs)',
    )
    .option('--state <dir>', 'where the demo keeps the sim platform key', join(process.cwd(), '.securecloud'))
    .action(async (flags: { state: string }) => {
      const work = await mkdtemp(join(tmpdir(), 'securecloud-demo-'));
      try {
        run.exitCode = await demo(flags.state, work, run);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}

/** The demo's policy: one service, two generated secrets, files and env rendered from templates. */
function demoPolicy(operatorCertificate: string, measurement: string): string {
  return JSON.stringify({
    version: 1,
    name: 'demo',
    predecessor: null,
    users: { operator: { certificate: operatorCertificate, roles: ['owner'] } },
    roles: { owner: { can: ['update-policy', 'write-secret', 'read-secret', 'read-audit'] } },
    services: {
      'meter-reader': {
        accept: [{ measurement }],
        platforms: ['sgx', 'tdx', 'sev-snp', 'sim'],
        allowSimulation: true,
        maxInstances: 1,
        env: { DB_KEY: '{{ secrets.dbKey.hex }}' },
        files: { '/run/secrets/inmetro.pem': '{{ secrets.inmetro.privatePem }}' },
      },
    },
    secrets: {
      dbKey: { type: 'symmetric-key', bits: 256 },
      inmetro: { type: 'key-pair', algorithm: 'ed25519' },
    },
  });
}

async function demo(stateDir: string, work: string, run: CliRun): Promise<number> {
  const say = (step: string, text: string): void => run.io.out(`[${step}] ${text}`);
  const detected = await detectTeeBackend();
  if (detected.simulation) {
    run.io.out('*** SIMULATION: no SGX, TDX or SEV-SNP here; the sim backend protects nothing ***');
  }
  say('1/6', `TEE backend: ${detected.name}: ${detected.reason}`);

  const simStateDir = join(stateDir, 'sim-platform');
  const casMeasurement = (await measureService(SRC)).measurement;
  const { backend } = await createTeeBackend(detected.name, {
    sim: { measurement: casMeasurement, stateDir: simStateDir },
  });
  const cas = await CasService.open({ dataDir: join(work, 'cas'), backend, measurement: casMeasurement });
  const server = await startCasServer(cas, { port: 0, host: '127.0.0.1' });
  try {
    say('2/6', `CAS at ${server.url}, its state sealed to its measurement ${casMeasurement.slice(0, 16)}…`);

    const operator = generateUserKey('operator');
    const service = (await measureService(join(SRC, 'tee'))).measurement;
    const text = demoPolicy(operator.certificatePem, service);
    const signature = signPolicy(text, loadUserKey(operator.pem).privateKey);
    const applied = await cas.applyPolicy(text, [{ user: 'operator', signature }]);
    say(
      '3/6',
      `operator key made; policy "demo" applied, signed by the operator (hash ${applied.hash.slice(0, 16)}…)`,
    );

    const common = {
      casUrl: server.url,
      casRootPem: cas.rootPem,
      tee: detected.name,
      simStateDir,
      heartbeat: false,
    };
    const granted = await startService({ ...common, name: 'meter-reader', measurePath: join(SRC, 'tee') });
    say(
      '4/6',
      `service meter-reader (measurement ${service.slice(0, 16)}…) attested as instance ${granted.instanceId.slice(0, 8)}…: ` +
        `a P-256 certificate from the CAS CA, secrets ${granted.secretNames().join(', ')}, ` +
        `env ${Object.keys(granted.env).join(', ')}, files ${Object.keys(granted.files).join(', ')} (values not shown)`,
    );
    await granted.close();

    try {
      await startService({ ...common, name: 'meter-reader', measurePath: join(SRC, 'cli') });
      say('5/6', 'ERROR: a build the policy does not list was granted');
      return EXIT.refused;
    } catch (err) {
      if (!isCasError(err)) throw err;
      say(
        '5/6',
        `a different build of meter-reader is refused: ${err.refusal}: ${err.message.split(';')[0]}`,
      );
    }

    const status = cas.status();
    const verdict = await verifyAuditLog(
      join(work, 'cas', 'audit.log'),
      createPublicKey(status.auditPublicKey),
    );
    say(
      '6/6',
      verdict.ok
        ? `audit log: ${verdict.entries} entries (policy, grant, refusal…), hash chain and signatures verified`
        : `audit log BROKEN at entry ${verdict.seq}: ${verdict.reason}`,
    );
    run.io.out(
      'Next: docs/cas.md (policies, secrets, securecloud run) and docs/attestation.md (real SGX/TDX/SEV-SNP evidence).',
    );
    return verdict.ok ? EXIT.ok : EXIT.refused;
  } finally {
    await server.close();
    await cas.close();
  }
}
