/**
 * The CascaDB server process: opens the store (LMDB with page encryption, or a PostgreSQL table of
 * ciphertext) under the secure layer, opens the database, and serves it over the PostgreSQL
 * protocol and the HTTPS JSON API, with Prometheus metrics and a graceful stop.
 *
 * Keys and credentials come from the CAS when `cas` is given (`startService`: secrets
 * `storageKey` (symmetric-key, 256 bits), `dbPassword` (password), the CAS-issued service
 * certificate for TLS, and client certificates of the CAS accepted). Without the CAS, the storage
 * key is sealed locally with the TEE backend's sealer in the data directory (SIMULATION when no
 * TEE is present: nothing is protected).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  createKeyring,
  createLmdbEngine,
  createPostgresEngine,
  createSecureStore,
  type StorageEngine,
} from '../../kvs/index.ts';
import {
  type AttestedService,
  createMetricsRegistry,
  type HttpServer,
  type HttpTlsOptions,
  type MetricsRegistry,
  registerProcessMetrics,
  startService,
  type TeeChoice,
} from '../../platform/index.ts';
import { createTeeBackend } from '../../tee/index.ts';
import { type Database, openDatabase } from '../index.ts';
import { createSqlHttpApi } from './http-api.ts';
import type { PgServerOptions } from './pg-options.ts';
import { deriveStorageKeys, loadOrCreateSealedKey } from './storage-key.ts';

/** A running PostgreSQL listener. */
export interface PgListener {
  readonly port: number;
  /** Open connections (exported as the `cascadb_pg_connections` gauge). */
  connectionCount?(): number;
  close(options?: { deadlineMs?: number }): Promise<void>;
}

/** Starts the PostgreSQL protocol listener on a database: `startPgServer` (pg-server.ts). */
export type PgListenerStarter = (database: Database, options: PgServerOptions) => Promise<PgListener>;

/** Options of {@link startSqlServer}. */
export interface SqlServerOptions {
  readonly dataDir: string;
  readonly engine?: 'lmdb' | 'postgres';
  /** PostgreSQL URL of the `postgres` engine (ciphertext table `cascadb_kv`). */
  readonly pgUrl?: string;
  readonly host?: string;
  /** PostgreSQL protocol port (0: any free port). Omit to serve only the JSON API. */
  readonly port?: number;
  /** JSON API port (0: any free port). Omit to serve only the PostgreSQL protocol. */
  readonly httpPort?: number;
  /** Start attested under the CAS (service name default `cascadb`). */
  readonly cas?: {
    readonly url: string;
    readonly rootPem: string;
    readonly service?: string;
    readonly tee?: TeeChoice;
  };
  /** Without CAS: the TEE backend whose sealer seals the storage key. Default `auto`. */
  readonly tee?: 'auto' | 'sim' | 'gramine-sgx' | 'tsm';
  /** Without CAS: the password (else `DATA/password`, made on first start, mode 0600). */
  readonly password?: string;
  /** Without CAS: TLS key and certificate (PEM) for both listeners; plain connections otherwise. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Accept clients without credentials (tests only). */
  readonly trust?: boolean;
  /** The PostgreSQL listener; without it only the JSON API runs. */
  readonly startPg?: PgListenerStarter;
  /** Log lines (JSON). Default: none. */
  readonly log?: (line: string) => void;
}

/** A started server. */
export interface RunningSqlServer {
  readonly database: Database;
  readonly pgPort?: number;
  readonly httpUrl?: string;
  readonly simulation: boolean;
  /** Where the password is kept when it was generated (local mode). */
  readonly passwordFile?: string;
  readonly metrics: MetricsRegistry;
  /** Stops accepting, lets queries finish within `deadlineMs` (default 10 s), closes everything. */
  close(options?: { deadlineMs?: number }): Promise<void>;
}

/** The user name the password belongs to (PostgreSQL protocol; the JSON API takes it as a bearer). */
export const SQL_USER = 'cascadb';

function pemOf(ca: string | readonly string[]): string {
  return typeof ca === 'string' ? ca : ca.join('\n');
}

interface Credentials {
  storageKey: Buffer;
  password?: string;
  passwordFile?: string;
  tls?: HttpTlsOptions;
  simulation: boolean;
  service?: AttestedService;
}

/**
 * Starts the server as `securecloud sql serve` does.
 *
 * @example
 * const server = await startSqlServer({ dataDir: './db', port: 5433, httpPort: 8444, startPg: startPgServer });
 * process.once('SIGTERM', () => void server.close());
 */
export async function startSqlServer(options: SqlServerOptions): Promise<RunningSqlServer> {
  const log = options.log ?? (() => {});
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const creds = options.cas ? await attestedCredentials(options) : await localCredentials(options, dataDir);
  const store = await openStore(options, dataDir, creds.storageKey);
  creds.storageKey.fill(0);
  const database = await openDatabase({ engine: store });
  const metrics = createMetricsRegistry();
  const svc = creds.service;
  if (svc)
    registerProcessMetrics(metrics, {
      service: 'cascadb',
      platform: svc.platform,
      simulation: svc.simulation,
    });
  const closers: Array<(deadlineMs: number) => Promise<void>> = [];
  try {
    const http = await startHttp(options, creds, database, metrics);
    const pg = await startPg(options, creds, database, log);
    if (http) closers.push((d) => http.server.close({ deadlineMs: d }));
    if (pg) closers.push((d) => pg.close({ deadlineMs: d }));
    if (pg?.connectionCount) {
      const gauge = metrics.gauge('cascadb_pg_connections', 'open PostgreSQL-protocol connections');
      metrics.onCollect(() => gauge.set({}, pg.connectionCount?.() ?? 0));
    }
    log(JSON.stringify({ level: 'info', msg: 'cascadb started', pgPort: pg?.port, http: http?.url }));
    let closed: Promise<void> | undefined;
    return {
      database,
      ...(pg ? { pgPort: pg.port } : {}),
      ...(http ? { httpUrl: http.url } : {}),
      simulation: creds.simulation,
      ...(creds.passwordFile ? { passwordFile: creds.passwordFile } : {}),
      metrics,
      close: ({ deadlineMs = 10_000 } = {}) => {
        closed ??= shutdown(closers, deadlineMs, database, store, creds.service).then(() =>
          log(JSON.stringify({ level: 'info', msg: 'cascadb stopped' })),
        );
        return closed;
      },
    };
  } catch (err) {
    await shutdown(closers, 0, database, store, creds.service);
    throw err;
  }
}

async function shutdown(
  closers: ReadonlyArray<(deadlineMs: number) => Promise<void>>,
  deadlineMs: number,
  database: Database,
  store: StorageEngine,
  service: AttestedService | undefined,
): Promise<void> {
  await Promise.allSettled(closers.map((c) => c(deadlineMs)));
  await database.close();
  await store.close();
  await service?.close();
}

async function startHttp(
  o: SqlServerOptions,
  creds: Credentials,
  database: Database,
  metrics: MetricsRegistry,
): Promise<{ server: HttpServer; url: string } | undefined> {
  if (o.httpPort === undefined) return undefined;
  const server = createSqlHttpApi({
    database,
    metrics,
    auth: {
      ...(creds.password !== undefined ? { password: creds.password } : {}),
      ...(creds.tls?.ca ? { clientCertificates: true } : {}),
      ...(o.trust ? { trust: true } : {}),
    },
    ...(creds.tls ? { tls: creds.tls } : {}),
    health: () => ({ simulation: creds.simulation }),
  });
  const { url } = await server.listen(o.httpPort, o.host ?? '127.0.0.1');
  return { server, url };
}

async function startPg(
  o: SqlServerOptions,
  creds: Credentials,
  database: Database,
  log: (line: string) => void,
): Promise<PgListener | undefined> {
  if (o.port === undefined || o.startPg === undefined) return undefined;
  const tls = creds.tls;
  return o.startPg(database, {
    port: o.port,
    host: o.host ?? '127.0.0.1',
    ...(tls ? { tls: { key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: pemOf(tls.ca) } : {}) } } : {}),
    auth: {
      ...(creds.password !== undefined ? { passwords: { [SQL_USER]: creds.password } } : {}),
      ...(tls?.ca ? { clientCertificates: true } : {}),
      ...(o.trust ? { trust: true } : {}),
    },
    onError: (err) => log(JSON.stringify({ level: 'error', msg: 'pg listener error', error: String(err) })),
  });
}

async function openStore(o: SqlServerOptions, dataDir: string, storageKey: Buffer): Promise<StorageEngine> {
  const keys = deriveStorageKeys(storageKey);
  let engine: StorageEngine;
  if ((o.engine ?? 'lmdb') === 'postgres') {
    if (o.pgUrl === undefined) throw new TypeError('the postgres engine needs pgUrl (--pg-url)');
    engine = await createPostgresEngine({ url: o.pgUrl, table: 'cascadb_kv' });
  } else {
    engine = await createLmdbEngine({ path: join(dataDir, 'lmdb'), encryptionKey: keys.pageKey });
  }
  const keyring = createKeyring({ keys: [{ id: 1, key: keys.valueKey }] });
  keys.valueKey.fill(0);
  keys.pageKey.fill(0);
  return createSecureStore(engine, keyring, { namespace: 'cascadb', closeEngine: true });
}

async function attestedCredentials(o: SqlServerOptions): Promise<Credentials> {
  const cas = o.cas!;
  const service = await startService({
    name: cas.service ?? 'cascadb',
    casUrl: cas.url,
    casRootPem: cas.rootPem,
    ...(cas.tee ? { tee: cas.tee } : {}),
  });
  try {
    const storageKey = Buffer.from(service.secret('storageKey').hex ?? '', 'hex');
    const password = service.secretNames().includes('dbPassword')
      ? service.secret('dbPassword').value
      : undefined;
    const tlsOptions = service.tlsOptions();
    const tls: HttpTlsOptions = {
      key: tlsOptions.key as string,
      cert: tlsOptions.cert as string,
      ca: service.caCertificatePem,
      requestCert: true,
    };
    return { storageKey, ...(password ? { password } : {}), tls, simulation: service.simulation, service };
  } catch (err) {
    await service.close();
    throw err;
  }
}

async function localCredentials(o: SqlServerOptions, dataDir: string): Promise<Credentials> {
  const selection = await createTeeBackend(o.tee ?? 'auto', {
    // The sim backend stands for "no TEE": a fixed measurement, so local data survives code changes.
    sim: { measurement: 'ca5cadb0'.repeat(8), stateDir: join(dataDir, 'sim-platform') },
  });
  const sealer = await selection.backend.sealer();
  const { key } = await loadOrCreateSealedKey(dataDir, sealer);
  const tls: HttpTlsOptions | undefined = o.tls ? { key: o.tls.key, cert: o.tls.cert } : undefined;
  if (o.password !== undefined || o.trust) {
    return {
      storageKey: key,
      ...(o.password ? { password: o.password } : {}),
      ...(tls ? { tls } : {}),
      simulation: selection.simulation,
    };
  }
  const passwordFile = join(dataDir, 'password');
  const password = await readOrCreatePassword(passwordFile);
  return {
    storageKey: key,
    password,
    passwordFile,
    ...(tls ? { tls } : {}),
    simulation: selection.simulation,
  };
}

async function readOrCreatePassword(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = randomBytes(18).toString('base64url');
  await writeFile(path, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return password;
}
