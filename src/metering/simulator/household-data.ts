import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  DAYS_PER_YEAR,
  fillMissing,
  HALF_HOURS_PER_DAY,
  type LclSeries,
  parseLclCsv,
  parsePecanShapes,
  QUARTERS_PER_DAY,
  type QuarterShapes,
} from './household-parsers.ts';
import { SimulatorError } from './model-errors.ts';

const gunzipAsync = promisify(gunzip);

/** Quarter-hour intervals in one profile year: 365 × 96. */
export const INTERVALS_PER_PROFILE = DAYS_PER_YEAR * QUARTERS_PER_DAY;
/** Households loaded when the caller does not say. */
export const DEFAULT_HOUSEHOLDS = 64;
/** A London file is used only if it has at least this many of the 17,520 half-hours of 2013 (97 %). */
export const MIN_HALF_HOURS = 17_000;
/** A London file is used only if at most this many of its readings are zero (1 %: not an empty home or a faulty meter). */
export const MAX_ZERO_HALF_HOURS = 175;
/** Floor of a profile's 15-minute energy, Wh: 6.25 Wh per quarter-hour is 25 W of always-on load. */
export const STANDBY_FLOOR_WH = 6.25;
/** Environment variable naming the data directory. */
export const DATA_DIR_ENV = 'SECURECLOUD_DATA_DIR';

const LCL_DIR = 'london_lcl_halfhourly__ryanhilde';
const PECAN_FILE = join('pecanstreet_austin__dlanzave', '15minute_data_austin.csv');
/** Shape day used for household h on day d: (d + SHAPE_STRIDE·h) mod shape days. */
const SHAPE_STRIDE = 41;
const MAX_IN_FLIGHT = 6;

/** Where the data came from and what the loader did to it (for the CLI and the docs). */
export interface ProfileProvenance {
  readonly dataDir: string;
  /** London files read (including those skipped for having too few half-hours). */
  readonly filesRead: number;
  /** Half-hours filled by the one-week-earlier rule, all households together. */
  readonly filledHalfHours: number;
  /** Quarter-hours raised to {@link STANDBY_FLOOR_WH}. */
  readonly flooredQuarters: number;
  /** Pecan Street days whose intra-half-hour shape is used. */
  readonly shapeDays: number;
}

/**
 * One year of 15-minute consumption for each of a set of real households: the input of
 * `createCustomerModel`. Arrays are household-major and never modified after creation.
 */
export interface HouseholdProfiles {
  /** Number of households. */
  readonly count: number;
  /** Source ids (London `LCLid`s), in profile order. */
  readonly ids: readonly string[];
  /** Energy per quarter-hour, Wh: household h, interval i at `h * INTERVALS_PER_PROFILE + i`. */
  readonly energyWh: Float32Array;
  /** Prefix sums: at `h * (INTERVALS_PER_PROFILE + 1) + i`, the energy of intervals 0…i-1 of household h. */
  readonly prefixWh: Float64Array;
  readonly provenance: ProfileProvenance;
}

/** Options of {@link loadHouseholdProfiles}. */
export interface LoadProfilesOptions {
  /** The shared data folder; default `$SECURECLOUD_DATA_DIR`, else `../shared/data` beside the repository. */
  readonly dataDir?: string;
  /** How many households to load (1-262 with the shared data), default {@link DEFAULT_HOUSEHOLDS}. */
  readonly households?: number;
  readonly signal?: AbortSignal;
}

/** The default data directory: `$SECURECLOUD_DATA_DIR`, else `<repository>/../shared/data`. */
export function defaultDataDir(): string {
  const fromEnv = process.env[DATA_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return fileURLToPath(new URL('../../../../shared/data', import.meta.url));
}

/**
 * Builds {@link HouseholdProfiles} from 15-minute energies (Wh, household-major, one profile year per
 * household): checks the shape and computes the prefix sums. `loadHouseholdProfiles` uses it; tests
 * and tools with their own series can too.
 */
export function createHouseholdProfiles(
  ids: readonly string[],
  energyWh: Float32Array,
  provenance: ProfileProvenance,
): HouseholdProfiles {
  if (ids.length === 0 || ids.length > 0xffff || energyWh.length !== ids.length * INTERVALS_PER_PROFILE) {
    throw new TypeError(
      `energyWh must hold ${INTERVALS_PER_PROFILE} values for each of 1-65535 households, got ${energyWh.length} for ${ids.length}`,
    );
  }
  const stride = INTERVALS_PER_PROFILE + 1;
  const prefixWh = new Float64Array(ids.length * stride);
  for (let h = 0; h < ids.length; h++) {
    let sum = 0;
    for (let i = 0; i < INTERVALS_PER_PROFILE; i++) {
      const v = energyWh[h * INTERVALS_PER_PROFILE + i] ?? Number.NaN;
      if (!(v >= 0 && Number.isFinite(v))) {
        throw new TypeError(
          `energyWh of household ${ids[h]} at interval ${i} is ${v}, expected a finite Wh ≥ 0`,
        );
      }
      prefixWh[h * stride + i] = sum;
      sum += v;
    }
    prefixWh[h * stride + INTERVALS_PER_PROFILE] = sum;
  }
  return { count: ids.length, ids: [...ids], energyWh, prefixWh, provenance };
}

/**
 * Loads real household consumption for the meter simulator: the first `households` London LCL
 * households (in `LCLid` order) that have at least 17,000 of the 17,520 half-hours of 2013 and at
 * most 1 % zero readings, with gaps filled (same half-hour one week earlier), each half-hour split
 * into two quarter-hours with the shape of a real Pecan Street day, and a 25 W standby floor. Takes
 * about 0.6 s for 64 households. Missing or malformed data is `ERR_SIM_DATA`, naming the file and
 * the remedy. Method and sources: docs/meter-simulator-model.md.
 *
 * @example
 * const profiles = await loadHouseholdProfiles({ households: 64 });
 * const model = createCustomerModel({ meters: 10_000, seed: 1, profiles });
 */
export async function loadHouseholdProfiles(options: LoadProfilesOptions = {}): Promise<HouseholdProfiles> {
  const { signal } = options;
  const households = options.households ?? DEFAULT_HOUSEHOLDS;
  if (!Number.isInteger(households) || households < 1 || households > 0xffff) {
    throw new TypeError(`households must be an integer from 1 to 65535, got ${households}`);
  }
  signal?.throwIfAborted();
  const dataDir = options.dataDir ?? defaultDataDir();
  const files = await listLclFiles(dataDir);
  const shapes = parsePecanShapes(await readText(dataDir, PECAN_FILE), join(dataDir, PECAN_FILE));
  const { series, filesRead } = await readHouseholds(dataDir, files, households, signal);
  const energyWh = new Float32Array(series.length * INTERVALS_PER_PROFILE);
  let filledHalfHours = 0;
  let flooredQuarters = 0;
  series.forEach((s, h) => {
    filledHalfHours += fillMissing(s.kwh);
    flooredQuarters += splitQuarters(s.kwh, shapes, h, energyWh.subarray(h * INTERVALS_PER_PROFILE));
  });
  const provenance = { dataDir, filesRead, filledHalfHours, flooredQuarters, shapeDays: shapes.days };
  return createHouseholdProfiles(
    series.map((s) => s.id),
    energyWh,
    provenance,
  );
}

/** Splits a filled 365 × 48 kWh grid into 365 × 96 Wh with Pecan Street shapes; returns how many were floored. */
function splitQuarters(kwh: Float64Array, shapes: QuarterShapes, h: number, out: Float32Array): number {
  let floored = 0;
  for (let d = 0; d < DAYS_PER_YEAR; d++) {
    const shapeAt = ((d + SHAPE_STRIDE * h) % shapes.days) * HALF_HOURS_PER_DAY;
    for (let s = 0; s < HALF_HOURS_PER_DAY; s++) {
      const wh = (kwh[d * HALF_HOURS_PER_DAY + s] ?? 0) * 1000;
      const first = shapes.firstShare[shapeAt + s] ?? 0.5;
      const q = d * QUARTERS_PER_DAY + 2 * s;
      const a = wh * first;
      const b = wh - a;
      out[q] = Math.max(a, STANDBY_FLOOR_WH);
      out[q + 1] = Math.max(b, STANDBY_FLOOR_WH);
      floored += (a < STANDBY_FLOOR_WH ? 1 : 0) + (b < STANDBY_FLOOR_WH ? 1 : 0);
    }
  }
  return floored;
}

interface LclFile {
  readonly id: string;
  readonly path: string;
}

function missingData(dataDir: string, what: string, cause?: unknown): SimulatorError {
  return new SimulatorError(
    'ERR_SIM_DATA',
    `household data not found: ${what} in ${dataDir}. Pass dataDir or set ${DATA_DIR_ENV} to the shared data folder ` +
      `(the one whose README.md lists ${LCL_DIR}/ and pecanstreet_austin__dlanzave/).`,
    { path: dataDir, expected: what },
    cause,
  );
}

/** The London files, sorted by household id, from the sub-folders of the LCL folder. */
async function listLclFiles(dataDir: string): Promise<LclFile[]> {
  const root = join(dataDir, LCL_DIR);
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw missingData(dataDir, `the folder ${LCL_DIR}/`, cause);
  }
  const files: LclFile[] = [];
  for (const sub of (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory())) {
    for (const name of await readdir(join(root, sub.name))) {
      const m = /^(MAC\d{6})\.csv\.gz$/.exec(name);
      if (m?.[1] !== undefined) files.push({ id: m[1], path: join(root, sub.name, name) });
    }
  }
  if (files.length === 0) throw missingData(dataDir, `MAC*.csv.gz files under ${LCL_DIR}/`);
  return files.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function readText(dataDir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dataDir, file), 'latin1');
  } catch (cause) {
    throw missingData(dataDir, file, cause);
  }
}

async function readGzip(file: LclFile): Promise<Buffer> {
  try {
    return await gunzipAsync(await readFile(file.path));
  } catch (cause) {
    throw new SimulatorError(
      'ERR_SIM_DATA',
      `${file.path} cannot be read as gzip (${(cause as Error).message}). Restore it from the shared data folder.`,
      { path: file.path, expected: 'a gzip-compressed CSV' },
      cause,
    );
  }
}

/** Reads files in id order (a few gunzips in flight on the thread pool) until `wanted` qualify. */
async function readHouseholds(
  dataDir: string,
  files: readonly LclFile[],
  wanted: number,
  signal: AbortSignal | undefined,
): Promise<{ series: LclSeries[]; filesRead: number }> {
  const series: LclSeries[] = [];
  const inFlight: { file: LclFile; bytes: Promise<Buffer> }[] = [];
  let next = 0;
  while (series.length < wanted) {
    while (inFlight.length < Math.min(MAX_IN_FLIGHT, wanted - series.length + 1) && next < files.length) {
      const file = files[next++] as LclFile;
      const bytes = readGzip(file);
      bytes.catch(() => {}); // awaited below; this only avoids an unhandled rejection if we stop early
      inFlight.push({ file, bytes });
    }
    const head = inFlight.shift();
    if (head === undefined) {
      throw new SimulatorError(
        'ERR_SIM_DATA',
        `only ${series.length} of the ${files.length} London households in ${join(dataDir, LCL_DIR)} have ` +
          `${MIN_HALF_HOURS} half-hours of 2013 with at most ${MAX_ZERO_HALF_HOURS} zeros; ${wanted} were asked for. ` +
          'Ask for fewer households.',
        { path: join(dataDir, LCL_DIR), found: String(series.length), expected: String(wanted) },
      );
    }
    const bytes = await head.bytes;
    signal?.throwIfAborted();
    const s = parseLclCsv(bytes, head.file.id, head.file.path);
    if (s.present >= MIN_HALF_HOURS && s.zeros <= MAX_ZERO_HALF_HOURS) series.push(s);
  }
  return { series, filesRead: next - inFlight.length };
}
