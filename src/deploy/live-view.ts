/**
 * The demo's live terminal view: services with their attestation, meters connected, reports per
 * second, readings stored, refusals by reason, restarts. On a terminal it is redrawn in place (ANSI);
 * otherwise one summary line is printed at a time.
 */
import type { LiveCounters } from './deployment-runner.ts';
import { reportsPerSecond, type UpState } from './state-file.ts';

/** What the view shows. */
export interface LiveViewInput {
  readonly state: UpState;
  readonly counters: LiveCounters;
  /** Meters simulated. */
  readonly meters: number;
  readonly now?: Date;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function uptime(startedAt: string, now: Date): string {
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(startedAt)) / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

function refusalsText(refusals: Readonly<Record<string, number>>): string {
  const entries = Object.entries(refusals).filter(([, n]) => n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** The full view, as lines (no ANSI codes). */
export function renderLiveView(v: LiveViewInput): string[] {
  const now = v.now ?? new Date();
  const s = v.state;
  const lines = [
    `securecloud demo: ${s.name}   up ${uptime(s.startedAt, now)}   ${now.toISOString().slice(11, 19)} UTC` +
      (s.simulation ? '   SIMULATION (sim TEE: protects nothing)' : ''),
    '',
    `  ${pad('service', 13)}${pad('pid', 9)}${pad('state', 12)}${pad('attestation', 34)}restarts`,
  ];
  for (const r of s.services) {
    const attestation =
      r.kind === 'simulator'
        ? '-'
        : r.attested
          ? `attested ${r.platform ?? ''}${r.simulation ? ' SIMULATION' : ''}${r.instanceId ? ` ${r.instanceId.slice(0, 8)}` : ''}`
          : 'not attested';
    lines.push(
      `  ${pad(r.name, 13)}${pad(String(r.pid ?? '-'), 9)}${pad(r.state, 12)}${pad(attestation, 34)}${r.restarts}`,
    );
  }
  const c = v.counters;
  const last = s.rounds.at(-1);
  lines.push(
    '',
    `  meters connected   ${c.sessions} / ${v.meters}`,
    `  reports/s          ${Math.round(reportsPerSecond(s.rounds))}`,
    `  readings stored    ${c.readingsStored}${c.unreachable.length > 0 ? `   (no answer from ${c.unreachable.join(', ')})` : ''}`,
    `  rounds             ${s.totals.rounds}${last ? `   last: ${last.at} stored ${last.stored}, duplicates ${last.duplicates}, unacknowledged ${last.unacknowledged}` : ''}`,
    `  refusals           ${refusalsText(c.refusals)}`,
    `  restarts           ${s.services.reduce((n, r) => n + r.restarts, 0)}`,
    '',
    `  Ctrl-C stops every service in order. Logs: ${s.dataDir}/logs/`,
  );
  return lines;
}

/** One line for a non-terminal output. */
export function renderLiveLine(v: LiveViewInput): string {
  const s = v.state;
  const attested = s.services.filter((r) => r.kind !== 'simulator' && r.attested).length;
  const total = s.services.filter((r) => r.kind !== 'simulator').length;
  return [
    `[live] services attested ${attested}/${total}`,
    `meters connected ${v.counters.sessions}/${v.meters}`,
    `reports/s ${Math.round(reportsPerSecond(s.rounds))}`,
    `readings stored ${v.counters.readingsStored}`,
    `rounds ${s.totals.rounds}`,
    `refusals ${refusalsText(v.counters.refusals)}`,
    `restarts ${s.services.reduce((n, r) => n + r.restarts, 0)}`,
  ].join(' | ');
}

/** ANSI: cursor home and clear the screen, then the view. */
export function ansiFrame(lines: readonly string[]): string {
  return `\x1b[H\x1b[2J${lines.join('\n')}\n`;
}
