// A small deployment file for tests: every service on a free port of one block, CascaDB off.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePortBase } from '../support/ports.ts';

/**
 * Writes `<dir>/deployment.yaml` (data under `<dir>/data`) with the given `meters:` line and extra
 * top-level lines, and returns its path.
 */
export async function writeTestDeployment(
  dir: string,
  meters: string,
  extra: readonly string[] = [],
): Promise<string> {
  const base = await freePortBase(8);
  const file = join(dir, 'deployment.yaml');
  await writeFile(
    file,
    [
      `dataDir: ${join(dir, 'data')}`,
      `cas: { port: ${base} }`,
      'cascadb: { enabled: false }',
      `mdc: { shards: 1, busPort: ${base + 1}, httpPort: ${base + 2} }`,
      `aggregators: { count: 1, port: ${base + 3}, httpPort: ${base + 7} }`,
      `scbr: { publishPort: ${base + 4}, subscribePort: ${base + 5}, httpPort: ${base + 6} }`,
      `meters: ${meters}`,
      ...extra,
    ].join('\n'),
  );
  return file;
}
