/**
 * Attested start-up of a service: measure the code, make a fresh P-256 key pair, get a nonce from
 * the CAS, bind SHA-256(SPKI DER ‖ nonce) ‖ 32 zero bytes into evidence from the TEE backend, send
 * it, and receive a CAS-issued certificate with the secrets and configuration the policy grants.
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { bindingReportData, CasError, createCasClient } from '../cas/index.ts';
import { freshKeyPair } from '../crypto/index.ts';
import { createTeeBackend, detectTeeBackend, measureService, type TeeBackendName } from '../tee/index.ts';
import {
  type AttestedService,
  AttestedServiceImpl,
  renderSelfKey,
  type ServiceSession,
} from './attested-service.ts';
import { checkGrant } from './grant-check.ts';

/** The TEE backend to attest with: a name, or `auto` to detect one. */
export type TeeChoice = 'auto' | TeeBackendName;

/** Options of {@link startService}. */
export interface StartServiceOptions {
  /** The service's name in the CAS policy (`services.NAME`). */
  readonly name: string;
  /** Base URL of the CAS, e.g. `https://cas.internal:8443`. */
  readonly casUrl: string;
  /** PEM of the CAS root (`DIR/root.pem` of the CAS): the only CA trusted to speak for the CAS. */
  readonly casRootPem: string;
  /** Default `auto`: Gramine-SGX, configfs-tsm, else the SIMULATION backend. */
  readonly tee?: TeeChoice;
  /**
   * What the sim backend measures (a file or a directory). Default: the directory of the entry file
   * (`process.argv[1]`). Hardware backends measure the code themselves and ignore this.
   */
  readonly measurePath?: string;
  /** Glob patterns left out of the measurement (see `measureService`). */
  readonly measureExclude?: readonly string[];
  /** Sim backend: directory of the software platform key. */
  readonly simStateDir?: string;
  /** Collateral files sent with the evidence (Intel DCAP collateral, AMD VCEK…). */
  readonly collateralFiles?: readonly string[];
  /** Keep the instance lease alive with heartbeats. Default true. */
  readonly heartbeat?: boolean;
  /** Timeout of each request to the CAS, ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Told when a heartbeat or the release of the lease fails (the service keeps running). */
  readonly onLeaseError?: (error: Error) => void;
  readonly signal?: AbortSignal;
}

const MAX_COLLATERAL_BYTES = 4 << 20;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Attests this process to the CAS and returns what the policy grants it. A refusal throws a
 * `CasError` with code `ERR_ATTESTATION_REFUSED` and `refusal` set (`measurement-not-accepted`, …).
 *
 * @example
 * const service = await startService({ name: 'mdc', casUrl, casRootPem, measurePath: './dist' });
 * const dbKey = service.secret('dbKey').hex;
 * const server = createMtlsServer(service, handler, { allowedPeers: ['billing'] });
 * process.once('SIGTERM', () => server.close(() => service.close()));
 */
export async function startService(options: StartServiceOptions): Promise<AttestedService> {
  assertOptions(options);
  const { signal } = options;
  signal?.throwIfAborted();
  const tee = await resolveBackend(options);
  const keys = freshKeyPair('p256');
  keys.privateRaw.fill(0);
  const collateral = await readCollateral(options.collateralFiles ?? [], signal);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cas = createCasClient({
    url: options.casUrl,
    rootPem: options.casRootPem,
    timeoutMs,
    ...(signal ? { signal } : {}),
  });
  let answer: unknown;
  try {
    const { nonce } = await cas.attestNonce(options.name);
    const reportData = bindingReportData(
      keys.publicKey.export({ type: 'spki', format: 'der' }),
      nonceBytes(nonce),
    );
    const evidence = await tee.backend.getEvidence(reportData, signal ? { signal } : {});
    answer = await cas.attest({
      service: options.name,
      nonce,
      evidence,
      publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      ...(Object.keys(collateral).length > 0 ? { collateral } : {}),
    });
  } catch (err) {
    // An abort surfaces from the client as a failed request: say it was an abort.
    signal?.throwIfAborted();
    throw err;
  } finally {
    cas.close();
  }
  const grant = checkGrant(answer, {
    service: options.name,
    publicKey: keys.publicKey,
    casRootPem: options.casRootPem,
  });
  const privateKeyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const service = new AttestedServiceImpl({
    name: options.name,
    grant: renderSelfKey(grant, privateKeyPem),
    privateKeyPem,
    casRootPem: options.casRootPem,
    platform: tee.backend.platform,
    session: serviceSession(options, grant.certificate, privateKeyPem, timeoutMs),
    onLeaseError: options.onLeaseError,
  });
  if (options.heartbeat ?? true) service.startHeartbeat();
  return service;
}

/** A CAS client that authenticates with the service certificate (heartbeats, release). */
function serviceSession(
  o: StartServiceOptions,
  certPem: string,
  keyPem: string,
  timeoutMs: number,
): ServiceSession {
  const controller = new AbortController();
  const client = createCasClient({
    url: o.casUrl,
    rootPem: o.casRootPem,
    clientCert: { certPem, keyPem },
    timeoutMs,
    signal: controller.signal,
  });
  return {
    heartbeat: (id) => client.heartbeat(id),
    release: (id) => client.release(id),
    abort: () => controller.abort(),
    close: () => client.close(),
  };
}

function nonceBytes(nonce: unknown): Buffer {
  if (typeof nonce !== 'string' || !/^(?:[0-9a-f]{2}){16,64}$/i.test(nonce)) {
    throw new CasError('ERR_BAD_REQUEST', 'the CAS answered a nonce that is not 16 to 64 bytes of hex');
  }
  return Buffer.from(nonce, 'hex');
}

function assertOptions(o: StartServiceOptions): void {
  if (o === null || typeof o !== 'object') throw new TypeError('startService needs options');
  if (typeof o.name !== 'string' || o.name.length === 0) throw new TypeError('name must be a service name');
  if (typeof o.casUrl !== 'string' || !URL.canParse(o.casUrl)) throw new TypeError('casUrl must be a URL');
  if (new URL(o.casUrl).protocol !== 'https:') throw new TypeError('casUrl must be an https: URL');
  if (typeof o.casRootPem !== 'string' || !o.casRootPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new TypeError('casRootPem must be the PEM of the CAS root certificate');
  }
}

async function resolveBackend(o: StartServiceOptions) {
  const choice = o.tee ?? 'auto';
  const name = choice === 'auto' ? (await detectTeeBackend({ signal: o.signal })).name : choice;
  if (name !== 'sim') return createTeeBackend(name, { signal: o.signal });
  const path = o.measurePath ?? (await defaultMeasurePath());
  const { measurement } = await measureService(path, {
    exclude: o.measureExclude ?? [],
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return createTeeBackend('sim', {
    signal: o.signal,
    sim: { measurement, ...(o.simStateDir ? { stateDir: o.simStateDir } : {}) },
  });
}

/** The directory of the entry file: what `node DIR/main.js` runs. */
async function defaultMeasurePath(): Promise<string> {
  const entry = process.argv[1];
  if (entry === undefined || entry === '') {
    throw new TypeError('measurePath is required: this process has no entry file (process.argv[1])');
  }
  return dirname(await realpath(entry));
}

async function readCollateral(
  files: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const file of files) {
    const name = basename(file);
    if (Object.hasOwn(out, name)) throw new TypeError(`two collateral files are named ${name}`);
    const bytes = await readFile(file, { signal });
    if (bytes.length > MAX_COLLATERAL_BYTES) {
      throw new TypeError(`collateral file ${file} is larger than ${MAX_COLLATERAL_BYTES} bytes`);
    }
    out[name] = bytes;
  }
  return out;
}
