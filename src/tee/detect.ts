import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGramineBackend, DEFAULT_GRAMINE_ROOT } from './gramine/gramine-backend.ts';
import { createSimBackend, type SimBackendOptions } from './sim/sim-backend.ts';
import { createTsmBackend, DEFAULT_TSM_ROOT } from './tsm/tsm-backend.ts';
import type { TeeBackend, TeeBackendName } from './types.ts';

/** Where to look for the TEE interfaces. */
export interface DetectOptions {
  /** Gramine's attestation pseudo-filesystem. Default `/dev/attestation`. */
  readonly gramineRoot?: string;
  /** The configfs-tsm report directory. Default `/sys/kernel/config/tsm/report`. */
  readonly tsmRoot?: string;
  readonly signal?: AbortSignal;
}

/** The outcome of {@link detectTeeBackend}: which backend, and why. */
export interface DetectedBackend {
  readonly name: TeeBackendName;
  /** True when only the SIMULATION backend is usable: nothing is protected. */
  readonly simulation: boolean;
  /** Why this backend was chosen, for humans (logs, CLI). */
  readonly reason: string;
}

/**
 * Finds the usable backend: `gramine-sgx` when `gramineRoot/quote` exists and
 * `gramineRoot/attestation_type` is `dcap`; else `tsm` when the configfs-tsm report directory
 * exists; else `sim`, with `simulation: true` and a reason that says what was missing.
 */
export async function detectTeeBackend(options: DetectOptions = {}): Promise<DetectedBackend> {
  const gramineRoot = options.gramineRoot ?? DEFAULT_GRAMINE_ROOT;
  const tsmRoot = options.tsmRoot ?? DEFAULT_TSM_ROOT;
  options.signal?.throwIfAborted();
  const gramine = await probeGramine(gramineRoot);
  if (gramine.usable) return { name: 'gramine-sgx', simulation: false, reason: gramine.reason };
  options.signal?.throwIfAborted();
  const tsm = await isDirectory(tsmRoot);
  if (tsm)
    return { name: 'tsm', simulation: false, reason: `${tsmRoot} exists: configfs-tsm (confidential VM)` };
  return {
    name: 'sim',
    simulation: true,
    reason: `${gramine.reason}; no configfs-tsm at ${tsmRoot}: falling back to the SIMULATION backend, which protects nothing`,
  };
}

async function probeGramine(root: string): Promise<{ usable: boolean; reason: string }> {
  const quote = join(root, 'quote');
  if (!(await exists(quote)))
    return { usable: false, reason: `no Gramine attestation interface (${quote} is missing)` };
  const type = await readFile(join(root, 'attestation_type'), 'utf8').then(
    (t) => t.trim(),
    () => 'unreadable',
  );
  if (type !== 'dcap') {
    return {
      usable: false,
      reason: `Gramine found at ${root} but attestation_type is "${type}" (set sgx.remote_attestation = "dcap" in the manifest)`,
    };
  }
  return { usable: true, reason: `${root} with attestation_type dcap: Gramine SGX enclave` };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** What {@link createTeeBackend} accepts: a backend name, or `auto` to detect one. */
export type TeeBackendChoice = 'auto' | TeeBackendName;

/** Options of {@link createTeeBackend}. */
export interface CreateTeeBackendOptions extends DetectOptions {
  /** Options of the sim backend; required when the sim backend is chosen (explicitly or by `auto`). */
  readonly sim?: Omit<SimBackendOptions, 'signal'>;
}

/** The backend chosen by {@link createTeeBackend}, with the reason. */
export interface TeeBackendSelection {
  readonly backend: TeeBackend;
  readonly name: TeeBackendName;
  /** True for the SIMULATION backend: nothing is protected. */
  readonly simulation: boolean;
  readonly reason: string;
}

type BackendFactory = (options: CreateTeeBackendOptions) => Promise<TeeBackend>;

const BACKEND_FACTORIES = {
  sim: (o) => {
    if (o.sim === undefined) {
      throw new TypeError(
        'the sim backend needs options.sim with the service measurement (see measureService)',
      );
    }
    return createSimBackend({ ...o.sim, signal: o.signal });
  },
  'gramine-sgx': (o) => createGramineBackend({ root: o.gramineRoot, signal: o.signal }),
  tsm: (o) => createTsmBackend({ root: o.tsmRoot, signal: o.signal }),
} as const satisfies Record<TeeBackendName, BackendFactory>;

/**
 * Resolves `choice` once into a backend. `auto` detects (see {@link detectTeeBackend}); a detected
 * hardware backend that then fails to open is an error, never a silent fall back to simulation. An
 * explicitly named backend that is not usable fails with ERR_BACKEND_UNAVAILABLE and the remedy.
 *
 * @example
 * const { backend, simulation, reason } = await createTeeBackend('auto', { sim: { measurement } });
 * if (simulation) console.warn(`SIMULATION: ${reason}`);
 */
export async function createTeeBackend(
  choice: TeeBackendChoice,
  options: CreateTeeBackendOptions = {},
): Promise<TeeBackendSelection> {
  if (choice !== 'auto' && !Object.hasOwn(BACKEND_FACTORIES, choice)) {
    throw new TypeError(
      `unknown TEE backend "${String(choice)}"; choose auto, ${Object.keys(BACKEND_FACTORIES).join(', ')}`,
    );
  }
  const detected: DetectedBackend =
    choice === 'auto'
      ? await detectTeeBackend(options)
      : { name: choice, simulation: choice === 'sim', reason: explicitReason(choice) };
  const backend = await BACKEND_FACTORIES[detected.name](options);
  return { backend, name: detected.name, simulation: backend.simulation, reason: detected.reason };
}

function explicitReason(name: TeeBackendName): string {
  return name === 'sim'
    ? 'the SIMULATION backend was chosen explicitly; it protects nothing'
    : `backend ${name} was chosen explicitly`;
}
