/** Options of the PostgreSQL-protocol listener, and their validated, defaulted form. */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { PgAuthenticator, type PgAuthOptions } from './pg-auth.ts';

/** TLS of the listener (from the CAS when attested: a `certificate` secret and the CAS root). */
export interface PgTlsOptions {
  /** PEM private key of the server certificate. */
  readonly key: string | Buffer;
  /** PEM server certificate (chain). */
  readonly cert: string | Buffer;
  /** PEM CA(s) client certificates must chain to (the CAS root), for `auth.clientCertificates`. */
  readonly ca?: string | Buffer;
  /** Refuse clients that do not use TLS (default true). */
  readonly required?: boolean;
}

/** Options of {@link startPgServer}. */
export interface PgServerOptions {
  /** Address to listen on (default `127.0.0.1`). */
  readonly host?: string;
  /** Port (default 5432; 0 picks a free one). */
  readonly port?: number;
  readonly tls?: PgTlsOptions;
  readonly auth: PgAuthOptions;
  /** The database name clients must ask for; any name is accepted when unset. */
  readonly databaseName?: string;
  /** Largest frontend message (default 64 MiB, at most 1 GiB). */
  readonly maxMessageBytes?: number;
  /** Connections at once (default 200); more get 53300 too_many_connections. */
  readonly maxConnections?: number;
  /** Time to finish startup and authentication (default 15 s). */
  readonly startupTimeoutMs?: number;
  /** Closes a connection idle this long with 57P05 (default 0: never). */
  readonly idleTimeoutMs?: number;
  /** Closes a connection whose client does not read its results this long (default 60 s). */
  readonly writeTimeoutMs?: number;
  /** Told about internal errors (their messages are not sent to clients). */
  readonly onError?: (err: unknown) => void;
}

/** Options after validation and defaults. */
export interface ResolvedPgOptions {
  readonly host: string;
  readonly port: number;
  readonly tls:
    | {
        readonly context: SecureContext;
        readonly required: boolean;
        /** The CAs client certificates must be issued by. */
        readonly caCertificates: readonly X509Certificate[];
      }
    | undefined;
  readonly auth: PgAuthenticator;
  readonly databaseName: string | undefined;
  readonly maxMessageBytes: number;
  readonly maxConnections: number;
  readonly startupTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly onError: (err: unknown) => void;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const MAX_MESSAGE_BYTES_CAP = 1024 * 1024 * 1024;

function nonNegative(
  name: string,
  v: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new TypeError(`${name} must be an integer in 0..${max}`);
  return v;
}

function parseCertificates(pem: string | Buffer | undefined): X509Certificate[] {
  if (pem === undefined) return [];
  const blocks = String(pem).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TypeError('tls.ca must hold PEM certificates');
  return blocks.map((b) => new X509Certificate(b));
}

/** Validates options (misuse is a TypeError) and fills in defaults. */
export function resolvePgOptions(o: PgServerOptions): ResolvedPgOptions {
  if (o === undefined || typeof o !== 'object') throw new TypeError('startPgServer: options are required');
  const auth = new PgAuthenticator(o.auth);
  if (auth.requestsCertificates && o.tls?.ca === undefined) {
    throw new TypeError('auth.clientCertificates needs tls.ca (the CAS root)');
  }
  const tls =
    o.tls === undefined
      ? undefined
      : {
          context: createSecureContext({
            key: o.tls.key,
            cert: o.tls.cert,
            ca: o.tls.ca,
            minVersion: 'TLSv1.2',
          }),
          required: o.tls.required ?? true,
          caCertificates: parseCertificates(o.tls.ca),
        };
  return {
    host: o.host ?? '127.0.0.1',
    port: nonNegative('port', o.port, 5432, 65535),
    tls,
    auth,
    databaseName: o.databaseName,
    maxMessageBytes: nonNegative(
      'maxMessageBytes',
      o.maxMessageBytes,
      DEFAULT_MAX_MESSAGE_BYTES,
      MAX_MESSAGE_BYTES_CAP,
    ),
    maxConnections: nonNegative('maxConnections', o.maxConnections, 200),
    startupTimeoutMs: nonNegative('startupTimeoutMs', o.startupTimeoutMs, 15_000),
    idleTimeoutMs: nonNegative('idleTimeoutMs', o.idleTimeoutMs, 0),
    writeTimeoutMs: nonNegative('writeTimeoutMs', o.writeTimeoutMs, 60_000),
    onError: o.onError ?? (() => undefined),
  };
}
