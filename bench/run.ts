// Benchmark dispatcher: `npm run bench -- NAME [ARGS…]` runs bench/NAME.ts, which prints JSON.
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = (await readdir(here))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || !names.includes(name)) {
  process.stderr.write(`usage: npm run bench -- NAME [ARGS…]\nbenchmarks: ${names.join(', ')}\n`);
  process.exit(name === undefined || name.startsWith('-') ? 0 : 2);
}
process.argv = [process.argv[0]!, `${here}/${name}.ts`, ...args];
await import(pathToFileURL(`${here}/${name}.ts`).href);
