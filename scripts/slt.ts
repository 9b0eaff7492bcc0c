/**
 * `npm run slt -- [--json] [--show N] [--timeout MS] [--engine NAME…] FILES_OR_DIRS…`: runs
 * sqllogictest files on a fresh in-memory CascaDB each and prints passed, failed, skipped and
 * unsupported records per file and in total. Exit code 1 when a record crashed (an error without
 * SQLSTATE or an internal one), 2 on usage errors, else 0.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCascadbSltTarget, runSltFile, type SltFileReport } from '../src/sql/slt/index.ts';

function* sltFiles(path: string): Generator<string> {
  if (!statSync(path).isDirectory()) {
    yield path;
    return;
  }
  for (const name of readdirSync(path).sort()) {
    const child = join(path, name);
    if (statSync(child).isDirectory()) yield* sltFiles(child);
    else if (/\.(test|slt)$/.test(name)) yield child;
  }
}

function line(r: SltFileReport, ms: number): string {
  const ran = r.passed + r.failed;
  const rate = ran === 0 ? '-' : `${((100 * r.passed) / ran).toFixed(1)}%`;
  return (
    `${r.file}: passed ${r.passed} failed ${r.failed} skipped ${r.skipped} unsupported ${r.unsupported}` +
    `${r.crashed > 0 ? ` CRASHED ${r.crashed}` : ''} (${rate}, ${(ms / 1000).toFixed(1)} s)`
  );
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      show: { type: 'string', default: '5' },
      timeout: { type: 'string', default: '60000' },
      engine: { type: 'string', multiple: true },
    },
  });
  if (positionals.length === 0) {
    process.stderr.write(
      'usage: npm run slt -- [--json] [--show N] [--timeout MS] [--engine NAME…] FILES…\n',
    );
    return 2;
  }
  const engines = new Set((values.engine ?? ['cascadb', 'postgresql']).map((e) => e.toLowerCase()));
  const show = Number(values.show);
  const reports: SltFileReport[] = [];
  for (const file of positionals.flatMap((p) => [...sltFiles(p)])) {
    const start = performance.now();
    const report = await runSltFile(file, () => openCascadbSltTarget(), {
      engines,
      maxFailures: Math.max(show, 1),
      statementTimeoutMs: Number(values.timeout),
    });
    reports.push(report);
    if (values.json) continue;
    process.stdout.write(`${line(report, performance.now() - start)}\n`);
    for (const f of report.failures.slice(0, show)) {
      process.stdout.write(
        `    line ${f.line}: ${f.sql.replace(/\s+/g, ' ').slice(0, 160)}\n      ${f.message}\n`,
      );
    }
  }
  const total = { passed: 0, failed: 0, skipped: 0, unsupported: 0, crashed: 0 };
  for (const r of reports) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r[k];
  if (values.json) process.stdout.write(`${JSON.stringify({ files: reports, total }, null, 2)}\n`);
  else {
    process.stdout.write(
      `total: ${reports.length} files, passed ${total.passed} failed ${total.failed} skipped ${total.skipped} ` +
        `unsupported ${total.unsupported} crashed ${total.crashed}\n`,
    );
  }
  return total.crashed > 0 ? 1 : 0;
}

process.exitCode = await main();
