import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { createTeeBackend, detectTeeBackend, measureService, toHex, verifyEvidence } from '../tee/index.ts';
import { EXIT, formatTable } from './io.ts';
import type { CliRun } from './main.ts';

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Registers `securecloud demo`: the attested start-up of a service, end to end, on this machine. */
export function registerDemoCommand(program: Command, run: CliRun): void {
  program
    .command('demo')
    .description('walk through the attested start-up of a service on this machine (what `npm start` runs)')
    .option('--state <dir>', 'where the demo keeps its state', join(process.cwd(), '.securecloud'))
    .action(async (flags: { state: string }) => {
      run.exitCode = await demo(flags.state, run);
    });
}

async function demo(stateDir: string, run: CliRun): Promise<number> {
  const say = (step: string, text: string): void => run.io.out(`[${step}] ${text}`);
  const detected = await detectTeeBackend();
  if (detected.simulation) {
    run.io.out('*** SIMULATION: no SGX, TDX or SEV-SNP here; the sim backend protects nothing ***');
  }
  say('1/5', `TEE backend: ${detected.name} (${detected.reason})`);

  const measured = await measureService(join(PACKAGE_ROOT, 'src'));
  say('2/5', `measured ${measured.files.length} files of the service: ${measured.measurement}`);

  const { publicKey } = generateKeyPairSync('x25519');
  const pub = publicKey.export({ type: 'spki', format: 'der' });
  const nonce = randomBytes(32);
  const reportData = Buffer.concat([
    createHash('sha256').update(pub).update(nonce).digest(),
    Buffer.alloc(32),
  ]);
  say('3/5', `fresh X25519 key and verifier nonce bound into report data ${toHex(reportData).slice(0, 16)}…`);

  const { backend } = await createTeeBackend(detected.name, {
    sim: { measurement: measured.measurement, stateDir: join(stateDir, 'sim-platform') },
  });
  const evidence = await backend.getEvidence(reportData);
  say('4/5', `${backend.platform} evidence: ${evidence.length} bytes`);

  const result = await verifyEvidence(evidence, { at: new Date(), allowSimulation: backend.simulation });
  const bound = result.reportData === toHex(reportData);
  // The sim platform reports our file measurement; hardware reports MRENCLAVE / MRTD / MEASUREMENT.
  const sameCode = !backend.simulation || result.measurement === measured.measurement;
  run.io.out(
    formatTable([
      ['      genuine', String(result.genuine)],
      [
        '      accepted',
        `${result.accepted}${result.simulation ? ' (SIMULATION allowed for this demo)' : ''}`,
      ],
      ['      measurement', result.measurement],
      ['      key bound', String(bound)],
      ['      tcbStatus', result.tcbStatus],
    ]),
  );
  if (!result.accepted || !bound || !sameCode) {
    say(
      '5/5',
      `REFUSED: ${result.refusal ? `[${result.refusal.code}] ${result.refusal.message}` : 'binding mismatch'}`,
    );
    return EXIT.refused;
  }
  const sealer = await backend.sealer();
  const sealed = sealer.seal(Buffer.from('a secret only this code may read'));
  const back = Buffer.from(sealer.unseal(sealed)).toString();
  say(
    '5/5',
    `sealed ${sealed.length} bytes to this measurement and unsealed: ${back === 'a secret only this code may read'}`,
  );
  run.io.out(
    'Next: the CAS would now release this service its certificate and secrets (see docs/attestation.md).',
  );
  return EXIT.ok;
}
