import type { Command } from 'commander';
import {
  inspectEvidence,
  isTcbStatus,
  isTeeError,
  loadCollateralFiles,
  readEvidenceFile,
  TCB_STATUSES,
  type TcbStatus,
  type VerificationResult,
  verifyEvidence,
} from '../tee/index.ts';
import { EXIT, formatTable, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

interface VerifyFlags {
  collateral: string[];
  at?: string;
  accept: string[];
  allowDebug?: boolean;
  allowSimulation?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Registers `securecloud attest verify|inspect`. */
export function registerAttestCommands(program: Command, run: CliRun): void {
  const attest = program
    .command('attest')
    .description('verify or inspect TEE evidence (SGX, TDX, SEV-SNP, sim)');
  attest
    .command('verify')
    .description(
      'verify evidence; exit 0 only when it is genuine and acceptable, 1 otherwise, 2 on usage errors',
    )
    .argument(
      '<evidence>',
      'evidence file (.hex read as hex; JSON with a "quote" field; base64; else binary)',
    )
    .option(
      '--collateral <file>',
      'collateral file (repeatable): Intel PCS bodies, dcap-qvl JSON, CRLs, PEM chains, AMD certs',
      collect,
      [],
    )
    .option('--at <iso-time>', 'verification time (default: now)')
    .option(
      '--accept <status>',
      `also accept this TCB status (repeatable): ${TCB_STATUSES.join(', ')}`,
      collect,
      [],
    )
    .option('--allow-debug', 'accept debug enclaves, TDs and guests')
    .option('--allow-simulation', 'accept SIMULATION evidence from the sim backend (protects nothing)')
    .option('--json', 'print the normalized result as JSON')
    .action(async (file: string, flags: VerifyFlags) => {
      run.exitCode = await verifyAction(file, flags, run);
    });
  attest
    .command('inspect')
    .description('print the fields of evidence without verifying anything')
    .argument('<evidence>', 'evidence file')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      const evidence = await readInput(file);
      try {
        const parsed = inspectEvidence(evidence);
        const rows: [string, string][] = [
          [
            'platform',
            `${parsed.platform} (${parsed.format})${parsed.platform === 'sim' ? '  SIMULATION' : ''}`,
          ],
          ['measurement', parsed.measurement],
          ['signer', parsed.signer ?? '-'],
          ['productId', String(parsed.productId ?? '-')],
          ['svn', String(parsed.svn ?? '-')],
          ['debug', String(parsed.debug)],
          ['reportData', parsed.reportData],
          ...Object.entries(parsed.details).map(([k, v]): [string, string] => [k, String(v)]),
        ];
        run.io.out(flags.json ? JSON.stringify(parsed, null, 2) : `NOT VERIFIED\n${formatTable(rows)}`);
      } catch (err) {
        if (!isTeeError(err)) throw err;
        run.io.err(`cannot parse ${file}: [${err.code}] ${err.message}`);
        run.exitCode = EXIT.refused;
      }
    });
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readEvidenceFile(file);
  } catch (err) {
    if (isTeeError(err)) throw new UsageError(`${file}: ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${file}: ${code ?? String(err)}`);
  }
}

function parseFlags(flags: VerifyFlags): { at: Date; accept: TcbStatus[] } {
  const at = flags.at === undefined ? new Date() : new Date(flags.at);
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(
      `--at ${JSON.stringify(flags.at)} is not an ISO 8601 time (example: 2025-06-20T00:00:00Z)`,
    );
  }
  const accept: TcbStatus[] = ['UpToDate', 'SWHardeningNeeded'];
  for (const s of flags.accept) {
    if (!isTcbStatus(s))
      throw new UsageError(`--accept ${s}: unknown TCB status; one of ${TCB_STATUSES.join(', ')}`);
    if (!accept.includes(s)) accept.push(s);
  }
  return { at, accept };
}

async function verifyAction(file: string, flags: VerifyFlags, run: CliRun): Promise<number> {
  const { at, accept } = parseFlags(flags);
  const evidence = await readInput(file);
  let collateral: Awaited<ReturnType<typeof loadCollateralFiles>>;
  try {
    collateral = await loadCollateralFiles(flags.collateral);
  } catch (err) {
    if (!isTeeError(err)) throw err;
    throw new UsageError(err.message);
  }
  let result: VerificationResult;
  try {
    result = await verifyEvidence(evidence, {
      at,
      collateral,
      acceptTcb: accept,
      allowDebug: flags.allowDebug === true,
      allowSimulation: flags.allowSimulation === true,
    });
  } catch (err) {
    if (!isTeeError(err)) throw err;
    const reason = `[${err.code}] ${err.message}`;
    if (flags.json)
      run.io.out(JSON.stringify({ genuine: false, accepted: false, code: err.code, reason }, null, 2));
    else run.io.err(`REFUSED: ${reason}`);
    return EXIT.refused;
  }
  run.io.out(flags.json ? JSON.stringify(resultToJson(result), null, 2) : formatResult(result));
  return result.accepted ? EXIT.ok : EXIT.refused;
}

/** The CLI's JSON contract for a verification result (other tools rely on these names). */
export function resultToJson(r: VerificationResult): Record<string, unknown> {
  const identity: Record<string, unknown> =
    r.platform === 'sgx'
      ? { mrenclave: r.details.mrenclave ?? r.measurement, mrsigner: r.details.mrsigner ?? r.signer }
      : r.platform === 'tdx'
        ? { mrtd: r.details.mrtd ?? r.measurement }
        : { measurement: r.measurement };
  return {
    platform: r.platform,
    format: r.format,
    simulation: r.simulation,
    genuine: r.genuine,
    accepted: r.accepted,
    tcbStatus: r.tcbStatus,
    advisories: r.advisories,
    debug: r.debug,
    ...identity,
    measurement: r.measurement,
    signer: r.signer,
    productId: r.productId,
    svn: r.svn,
    reportData: r.reportData,
    ...(r.refusal
      ? {
          reason: r.refusal.message,
          code: r.refusal.code,
          check: r.refusal.check,
          value: r.refusal.value,
          expected: r.refusal.expected,
        }
      : {}),
    checks: r.checks,
    details: r.details,
  };
}

function formatResult(r: VerificationResult): string {
  const verdict = r.accepted ? 'ACCEPTED' : r.genuine ? 'GENUINE BUT NOT ACCEPTED' : 'REFUSED';
  const rows: [string, string][] = [
    ['verdict', r.simulation ? `${verdict}  (SIMULATION: protects nothing)` : verdict],
    ['platform', `${r.platform} (${r.format})`],
    ['genuine', String(r.genuine)],
    ['accepted', String(r.accepted)],
    ['tcbStatus', r.tcbStatus],
    ['advisories', r.advisories.length > 0 ? r.advisories.join(', ') : '-'],
    ['measurement', r.measurement],
    ['signer', r.signer ?? '-'],
    ['productId', String(r.productId ?? '-')],
    ['svn', String(r.svn ?? '-')],
    ['debug', String(r.debug)],
    ['reportData', r.reportData],
  ];
  if (r.refusal) {
    rows.push(['reason', `[${r.refusal.code}] ${r.refusal.check}: ${r.refusal.message}`]);
    if (r.refusal.value !== undefined) rows.push(['found', r.refusal.value]);
    if (r.refusal.expected !== undefined) rows.push(['expected', r.refusal.expected]);
  }
  const checks = r.checks.map((c) => {
    const mark = c.ok ? 'ok  ' : c.skipped ? 'SKIP' : 'FAIL';
    return `  ${mark} ${c.check}${c.message && (c.ok || c.skipped) ? `: ${c.message}` : ''}`;
  });
  return `${formatTable(rows)}\nchecks:\n${checks.join('\n')}`;
}
