import type { SecureContextOptions } from 'node:tls';
import { inspect } from 'node:util';
import { CasError } from '../cas/index.ts';
import type { Platform } from '../tee/index.ts';
import type { CasGrant } from './grant-check.ts';
import type { MtlsIdentity } from './mtls.ts';

/**
 * What a service receives from the CAS at start-up. Secret values live in private fields: printing
 * or serializing the object shows only its name, instance and SIMULATION flag.
 */
export interface AttestedService extends MtlsIdentity {
  readonly name: string;
  /** The instance id the CAS assigned (also in the certificate's URI). */
  readonly instanceId: string;
  /** PEM of the service certificate issued by the CAS (CN and SAN DNS = name, SAN URI with the instance). */
  readonly certificatePem: string;
  /** PEM of the CAS root. */
  readonly caCertificatePem: string;
  readonly platform: Platform;
  /** True when attested on the SIMULATION backend: nothing is protected. */
  readonly simulation: boolean;
  /** How long the CAS keeps the instance counted without a heartbeat, seconds. */
  readonly leaseSeconds: number;
  /** The rendered environment the policy grants (`services.NAME.env`). */
  readonly env: Readonly<Record<string, string>>;
  /** The rendered files the policy grants, by the absolute path named in the policy. */
  readonly files: Readonly<Record<string, string>>;
  /** The rendered arguments the policy grants. */
  readonly args: readonly string[];
  /** Names of the secrets granted. */
  secretNames(): string[];
  /** The fields of a granted secret (`hex`, `privatePem`, …); ERR_SECRET_UNKNOWN when not granted. */
  secret(name: string): Readonly<Record<string, string>>;
  /** TLS options for mTLS: own key and certificate, the CAS root as the only CA, TLS 1.3. */
  tlsOptions(): SecureContextOptions;
  /** Renews the instance lease now (what the heartbeat timer does); resolves with its new length, s. */
  renewLease(): Promise<number>;
  /** Stops heartbeats and releases the instance lease at the CAS. Idempotent; never rejects. */
  close(options?: { signal?: AbortSignal }): Promise<void>;
}

/** The calls a service makes with its own certificate. */
export interface ServiceSession {
  heartbeat(instanceId: string): Promise<{ leaseSeconds: number }>;
  release(instanceId: string): Promise<void>;
  /** Aborts requests in flight. */
  abort(): void;
  /** Closes pooled connections. */
  close(): void;
}

const SELF_KEY = /\{\{\s*self\.privateKey\.pem\s*\}\}/g;

/**
 * Renders the `{{ self.privateKey.pem }}` placeholders the CAS leaves (it never sees the key).
 * Hazard: a granted secret value that itself contains the placeholder text is rendered as well; the
 * key only ever lands in this process's own configuration.
 */
export function renderSelfKey(grant: CasGrant, privateKeyPem: string): CasGrant {
  const render = (text: string) => text.replace(SELF_KEY, () => privateKeyPem);
  return {
    ...grant,
    env: mapValues(grant.env, render),
    files: mapValues(grant.files, render),
    args: grant.args.map(render),
  };
}

function mapValues(o: Readonly<Record<string, string>>, f: (v: string) => string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

/** Construction parameters of {@link AttestedServiceImpl}. */
export interface AttestedServiceInit {
  readonly name: string;
  readonly grant: CasGrant;
  readonly privateKeyPem: string;
  readonly casRootPem: string;
  readonly platform: Platform;
  readonly session: ServiceSession;
  readonly onLeaseError: ((error: Error) => void) | undefined;
}

const MIN_HEARTBEAT_MS = 1_000;
const MAX_HEARTBEAT_MS = 10 * 60_000;

/** The {@link AttestedService} returned by `startService`. */
export class AttestedServiceImpl implements AttestedService {
  readonly name: string;
  readonly instanceId: string;
  readonly certificatePem: string;
  readonly caCertificatePem: string;
  readonly platform: Platform;
  readonly simulation: boolean;
  #leaseSeconds: number;
  readonly #privateKeyPem: string;
  readonly #secrets: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly #env: Readonly<Record<string, string>>;
  readonly #files: Readonly<Record<string, string>>;
  readonly #args: readonly string[];
  readonly #session: ServiceSession;
  readonly #onLeaseError: (error: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #closing: Promise<void> | undefined;

  constructor(init: AttestedServiceInit) {
    const { grant } = init;
    this.name = init.name;
    this.instanceId = grant.instanceId;
    this.certificatePem = grant.certificate;
    this.caCertificatePem = init.casRootPem;
    this.platform = init.platform;
    this.simulation = grant.simulation;
    this.#leaseSeconds = grant.leaseSeconds;
    this.#privateKeyPem = init.privateKeyPem;
    this.#secrets = new Map(
      Object.entries(grant.secrets).map(([name, s]) => [name, Object.freeze({ ...s.fields })]),
    );
    this.#env = Object.freeze({ ...grant.env });
    this.#files = Object.freeze({ ...grant.files });
    this.#args = Object.freeze([...grant.args]);
    this.#session = init.session;
    this.#onLeaseError = init.onLeaseError ?? (() => {});
  }

  get leaseSeconds(): number {
    return this.#leaseSeconds;
  }
  get env(): Readonly<Record<string, string>> {
    return this.#env;
  }
  get files(): Readonly<Record<string, string>> {
    return this.#files;
  }
  get args(): readonly string[] {
    return this.#args;
  }

  secretNames(): string[] {
    return [...this.#secrets.keys()].sort();
  }

  secret(name: string): Readonly<Record<string, string>> {
    const fields = this.#secrets.get(name);
    if (fields === undefined) {
      const granted = this.secretNames();
      throw new CasError(
        'ERR_SECRET_UNKNOWN',
        `secret "${name}" was not granted to service ${this.name}; granted: ${granted.length > 0 ? granted.join(', ') : '(none)'}`,
      );
    }
    return fields;
  }

  tlsOptions(): SecureContextOptions {
    return {
      key: this.#privateKeyPem,
      cert: this.certificatePem,
      ca: this.caCertificatePem,
      minVersion: 'TLSv1.3',
    };
  }

  /** Starts the heartbeat timer (unref'd: it never keeps the process alive). */
  startHeartbeat(): void {
    if (this.#timer !== undefined || this.#closing !== undefined) return;
    const every = Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, (this.#leaseSeconds * 1000) / 3));
    this.#timer = setInterval(() => void this.#beat(), every);
    this.#timer.unref();
  }

  async renewLease(): Promise<number> {
    if (this.#closing !== undefined) throw new TypeError(`service ${this.name} is closed`);
    const { leaseSeconds } = await this.#session.heartbeat(this.instanceId);
    this.#leaseSeconds = leaseSeconds;
    return leaseSeconds;
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closing !== undefined) return;
    this.#beating = true;
    try {
      await this.renewLease();
    } catch (err) {
      this.#onLeaseError(err as Error);
    } finally {
      this.#beating = false;
    }
  }

  close(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#closing ??= this.#release(options.signal);
    return this.#closing;
  }

  async #release(signal: AbortSignal | undefined): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const abort = () => this.#session.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      signal?.throwIfAborted();
      await this.#session.release(this.instanceId);
    } catch (err) {
      this.#onLeaseError(err as Error);
    } finally {
      signal?.removeEventListener('abort', abort);
      this.#session.close();
    }
  }

  toJSON(): Record<string, string | boolean> {
    return {
      name: this.name,
      instanceId: this.instanceId,
      platform: this.platform,
      simulation: this.simulation,
    };
  }

  [inspect.custom](): string {
    const sim = this.simulation ? ' SIMULATION' : '';
    return `AttestedService { ${this.name}/${this.instanceId} on ${this.platform}${sim} }`;
  }
}
