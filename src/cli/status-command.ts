/** `securecloud status [--json]`: the running deployment's services and counters. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { collectStatus, isDeployError, type StatusReport } from '../deploy/index.ts';
import { CommandFailure, EXIT } from './io.ts';
import type { CliRun } from './main.ts';

/** Registers `securecloud status`. */
export function registerStatusCommand(program: Command, run: CliRun): void {
  program
    .command('status')
    .description('show the running deployment: services (pid, state, attestation, restarts) and counters')
    .option('--data <dir>', 'data directory of the deployment', './.securecloud')
    .option('--json', 'print JSON (for scripts)')
    .action(async (flags: { data: string; json?: boolean }) => {
      let report: StatusReport;
      try {
        report = await collectStatus(resolve(flags.data));
      } catch (err) {
        if (isDeployError(err, 'ERR_NOT_RUNNING')) {
          if (flags.json) run.io.out(JSON.stringify({ running: false, reason: err.message }));
          throw new CommandFailure(err.message);
        }
        throw err;
      }
      run.io.out(flags.json ? JSON.stringify({ running: true, ...report }, null, 2) : formatStatus(report));
      run.exitCode = EXIT.ok;
    });
}

/** The human form of a status report. */
export function formatStatus(r: StatusReport): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines = [
    `deployment ${r.name} (supervisor pid ${r.supervisorPid}, since ${r.startedAt})${r.simulation ? '   SIMULATION: protects nothing' : ''}`,
    `data ${r.dataDir}   CAS ${r.casUrl}`,
    '',
    `${pad('service', 14)}${pad('pid', 9)}${pad('state', 12)}${pad('attested', 10)}${pad('platform', 10)}${pad('health', 9)}restarts`,
  ];
  for (const s of r.services) {
    const health = s.healthy === null ? (s.alive ? 'alive' : '-') : s.healthy ? 'ok' : 'FAILING';
    lines.push(
      `${pad(s.name, 14)}${pad(String(s.pid ?? '-'), 9)}${pad(s.state, 12)}${pad(s.kind === 'simulator' ? '-' : s.attested ? 'yes' : 'no', 10)}${pad(s.platform ?? '-', 10)}${pad(health, 9)}${s.restarts}${s.lastExit && s.restarts > 0 ? `   (last: ${s.lastExit})` : ''}`,
    );
  }
  const c = r.counters;
  const refusals = Object.entries(c.refusals);
  lines.push(
    '',
    `readingsStored    ${c.readingsStored ?? 'unknown (no MDC answered)'}`,
    `metersConnected   ${c.metersConnected ?? 'unknown'}`,
    `reportsPerSecond  ${c.reportsPerSecond}`,
    `rounds            ${c.rounds}`,
    `refusals          ${refusals.length === 0 ? 'none' : refusals.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `restarts          ${c.restarts}`,
  );
  return lines.join('\n');
}
