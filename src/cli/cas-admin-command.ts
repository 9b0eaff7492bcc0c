import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  bindingReportData,
  CasError,
  CasService,
  type CasStatus,
  generateUserKey,
  verifyAuditLog,
} from '../cas/index.ts';
import { createDefaultVerifierSet, isTeeError, loadCollateralFiles } from '../tee/index.ts';
import {
  type CasTargetFlags,
  casAction,
  collect,
  openClient,
  readBytes,
  withTarget,
  writePrivate,
} from './cas-command.ts';
import { casBackend, casMeasurement } from './cas-serve-command.ts';
import { EXIT, formatTable, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

interface VerifyFlags extends CasTargetFlags {
  expectMeasurement?: string;
  allowSimulation?: boolean;
  collateral: string[];
  json?: boolean;
}

/** Registers `cas verify|status|secret|audit|users`. */
export function registerCasAdminCommands(cas: Command, run: CliRun): void {
  withTarget(
    cas
      .command('verify')
      .description(
        "check the CAS's own evidence: genuine, bound to the TLS key it answers over, expected measurement",
      )
      .option(
        '--expect-measurement <hex>',
        'the measurement the CAS must have (securecloud tee measure of its src)',
      )
      .option('--allow-simulation', 'accept a CAS on the SIMULATION backend (protects nothing)')
      .option('--collateral <file>', 'collateral for real evidence (repeatable)', collect, [])
      .option('--json', 'print JSON'),
  ).action(casAction(run, (flags: VerifyFlags) => verifyCas(flags, run)));
  withTarget(
    cas
      .command('status')
      .description('policy in force, live instances, audit head')
      .option('--json', 'print JSON'),
  ).action(
    casAction(run, async (flags: CasTargetFlags & { json?: boolean }) => {
      const client = await openClient({ ...flags, as: undefined });
      try {
        const status = await client.status();
        run.io.out(flags.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      } finally {
        client.close();
      }
      return 0;
    }),
  );
  registerSecretCommands(cas, run);
  withTarget(
    cas
      .command('audit')
      .description(
        'print the audit log (read-audit), or verify it with --verify (online, or offline with --data)',
      )
      .option('--as <key.pem>', 'your user key (online)')
      .option('--verify', 'verify hashes, signatures, the chain and the head')
      .option('--data <dir>', 'verify DIR/audit.log offline against the sealed head (stop the CAS first)')
      .option('--tee <backend>', 'TEE backend to unseal the state with (offline)', 'auto')
      .option('--from <seq>', 'first entry to print', '1')
      .option('--json', 'print JSON lines'),
  ).action(casAction(run, (flags: AuditFlags) => audit(flags, run)));
  const users = cas.command('users').description('user keys');
  users
    .command('keygen')
    .description(
      'make a user key (P-256 key + self-signed certificate); prints the certificate for the policy',
    )
    .argument('<name>', 'user name, as in the policy')
    .requiredOption('--out <key.pem>', 'key file to write (keep it private)')
    .option('--force', 'overwrite --out')
    .action(
      casAction(run, async (name: string, flags: { out: string; force?: boolean }) => {
        let made: ReturnType<typeof generateUserKey>;
        try {
          made = generateUserKey(name);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        await writePrivate(flags.out, made.pem, flags.force === true);
        run.io.out(
          `# key file: ${flags.out} (private)\n# paste under users.${name}.certificate in the policy:\n${made.certificatePem}`,
        );
        return 0;
      }),
    );
}

function registerSecretCommands(cas: Command, run: CliRun): void {
  const secret = cas.command('secret').description('upload user-provided secrets, read generated ones');
  withTarget(
    secret
      .command('put')
      .argument('<name>', 'a user-provided secret of the policy')
      .requiredOption('--from <file>', 'the value (bytes)')
      .requiredOption('--as <key.pem>', 'your user key (write-secret)'),
  ).action(
    casAction(run, async (name: string, flags: CasTargetFlags & { from: string }) => {
      const value = await readBytes(flags.from, 'the secret value');
      const client = await openClient(flags);
      try {
        await client.putSecret(name, value);
      } finally {
        client.close();
      }
      run.io.out(`stored secret "${name}" (${value.length} bytes; write-only)`);
      return 0;
    }),
  );
  withTarget(
    secret
      .command('get')
      .argument('<name>', 'a generated secret of the policy')
      .requiredOption('--as <key.pem>', 'your user key (read-secret)')
      .option('--field <field>', 'print only this field (e.g. hex, value, privatePem)'),
  ).action(
    casAction(run, async (name: string, flags: CasTargetFlags & { field?: string }) => {
      const client = await openClient(flags);
      try {
        const s = await client.getSecret(name);
        if (flags.field === undefined)
          run.io.out(JSON.stringify({ name: s.name, type: s.type, fields: s.fields }, null, 2));
        else {
          const value = s.fields[flags.field];
          if (value === undefined)
            throw new UsageError(
              `secret "${name}" (${s.type}) has no field ${flags.field}; fields: ${Object.keys(s.fields).join(', ')}`,
            );
          run.io.out(value);
        }
      } finally {
        client.close();
      }
      return 0;
    }),
  );
}

async function verifyCas(flags: VerifyFlags, run: CliRun): Promise<number> {
  const expected = flags.expectMeasurement?.toLowerCase();
  if (expected !== undefined && !/^([0-9a-f]{64}|[0-9a-f]{96})$/.test(expected))
    throw new UsageError('--expect-measurement must be 64 or 96 hex digits');
  let collateral: Awaited<ReturnType<typeof loadCollateralFiles>>;
  try {
    collateral = await loadCollateralFiles(flags.collateral);
  } catch (err) {
    if (isTeeError(err)) throw new UsageError(err.message);
    throw err;
  }
  const client = await openClient({ ...flags, as: undefined });
  const nonce = randomBytes(32);
  let own: Awaited<ReturnType<typeof client.evidence>>;
  try {
    own = await client.evidence(nonce.toString('hex'));
  } finally {
    client.close();
  }
  let problem: string | null = null;
  const result = await createDefaultVerifierSet()
    .verify(own.evidence, { at: new Date(), collateral, allowSimulation: flags.allowSimulation === true })
    .catch((err: unknown) => {
      if (!isTeeError(err)) throw err;
      problem = `[${err.code}] ${err.message}`;
      return null;
    });
  if (result && !result.accepted) problem = `[${result.refusal?.code}] ${result.refusal?.message}`;
  else if (result && result.reportData !== bindingReportData(own.peerSpki, nonce).toString('hex'))
    problem =
      "the evidence does not bind this TLS connection's key and our nonce: another server is answering";
  else if (result && expected !== undefined && result.measurement !== expected)
    problem = `measurement ${result.measurement} is not the expected ${expected}`;
  const rows: [string, string][] = [
    ['verdict', problem === null ? 'CAS VERIFIED' : 'REFUSED'],
    ['platform', `${own.platform}${own.simulation ? '   SIMULATION: protects nothing' : ''}`],
    [
      'measurement',
      `${result?.measurement ?? own.measurement}${expected === undefined ? '   (not checked: pass --expect-measurement)' : ''}`,
    ],
    ['tls key bound', problem === null ? 'yes' : '-'],
  ];
  if (problem !== null) rows.push(['reason', problem]);
  if (flags.json) {
    run.io.out(
      JSON.stringify(
        {
          verified: problem === null,
          platform: own.platform,
          simulation: own.simulation,
          measurement: result?.measurement ?? own.measurement,
          measurementChecked: expected !== undefined,
          reason: problem,
        },
        null,
        2,
      ),
    );
  } else run.io.out(formatTable(rows));
  return problem === null ? EXIT.ok : EXIT.refused;
}

function formatStatus(s: CasStatus): string {
  const rows: [string, string][] = [
    ['policy', s.policy ? `${s.policy.name} v${s.policy.version} ${s.policy.hash}` : 'none applied yet'],
    ['platform', `${s.platform}${s.simulation ? '   SIMULATION: protects nothing' : ''}`],
    ['measurement', s.measurement],
    ['audit head', `${s.auditHead.seq} ${s.auditHead.hash}`],
    ...Object.entries(s.services).map(([name, v]): [string, string] => [
      `service ${name}`,
      `${v.instances} live instance(s)`,
    ]),
  ];
  return formatTable(rows);
}

interface AuditFlags extends CasTargetFlags {
  verify?: boolean;
  data?: string;
  tee: string;
  from: string;
  json?: boolean;
}

async function audit(flags: AuditFlags, run: CliRun): Promise<number> {
  if (flags.data !== undefined) {
    if (!flags.verify) throw new UsageError('--data is for offline verification: add --verify');
    const data = resolve(flags.data);
    const selection = await casBackend(flags.tee, data, await casMeasurement());
    const result = await CasService.verifyAuditOffline(data, selection.backend);
    return report(result, run, `${join(data, 'audit.log')} against the sealed head`);
  }
  if (flags.as === undefined)
    throw new UsageError(
      'reading the audit log needs --as KEY.pem (read-audit), or --verify --data DIR offline',
    );
  const from = Number(flags.from);
  if (!Number.isInteger(from) || from < 1) throw new UsageError('--from must be a sequence number >= 1');
  const client = await openClient(flags);
  try {
    if (!flags.verify) {
      const entries = await client.audit(from);
      run.io.out(entries.map((e) => (flags.json ? JSON.stringify(e) : formatEntry(e))).join('\n'));
      return EXIT.ok;
    }
    // The head first: the entries fetched next reach at least that far.
    const status = await client.status();
    const entries = await client.audit(1);
    const dir = await mkdtemp(join(tmpdir(), 'securecloud-audit-'));
    try {
      const file = join(dir, 'audit.log');
      await writeFile(file, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      const result = await verifyAuditLog(file, createPublicKey(status.auditPublicKey), status.auditHead);
      return report(
        result.ok ? { ...result, head: status.auditHead } : result,
        run,
        `the log served by ${flags.cas ?? 'the CAS'}`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    client.close();
  }
}

function report(
  result:
    | { ok: true; entries: number; head: { seq: number; hash: string } | null }
    | { ok: false; seq: number; reason: string },
  run: CliRun,
  what: string,
): number {
  if (!result.ok) throw new CasError('ERR_AUDIT_TAMPERED', `${what}: entry ${result.seq}: ${result.reason}`);
  const head = result.head ? `; head ${result.head.seq} ${result.head.hash}` : '';
  run.io.out(
    `audit log verified: ${result.entries} entries, hashes, signatures and chain intact (${what}${head})`,
  );
  return EXIT.ok;
}

function formatEntry(e: Record<string, unknown>): string {
  const detail = e.detail && typeof e.detail === 'object' ? ` ${JSON.stringify(e.detail)}` : '';
  return `${e.seq} ${e.time} ${e.kind} ${e.actor} ${e.outcome}${e.reason ? ` ${e.reason}` : ''}${detail}`;
}
