/**
 * Mutual TLS between services, with certificates the CAS issued them at attestation. Trust anchor:
 * the CAS root only (never the system store). A peer is identified by the URI in its certificate's
 * subject alternative names, `securecloud://service/NAME/instance/ID`; a peer without such a URI
 * (a user certificate, the CAS's own TLS certificate) is not a service and is refused.
 *
 * TLS 1.3 hazard: a client finishes its handshake before the server has judged the client's
 * certificate, so a server's refusal reaches the client as an error on the socket or request
 * afterwards (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, or a reset for an untrusted certificate).
 * {@link explainMtlsError} turns those into an {@link MtlsError}. The server side always knows why:
 * it reports each refusal to `onRefused`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, type Server } from 'node:https';
import { connect, type PeerCertificate, type SecureContextOptions, type TLSSocket } from 'node:tls';

/** Stable codes of {@link MtlsError}. */
export const MTLS_ERROR_CODES = [
  'ERR_MTLS_NO_CERTIFICATE', // the peer presented no certificate
  'ERR_MTLS_UNTRUSTED_PEER', // the peer's certificate does not chain to the CAS root
  'ERR_MTLS_NOT_A_SERVICE', // the certificate chains to the CAS root but names no service
  'ERR_MTLS_PEER_NOT_ALLOWED', // a service, but not one allowed here
  'ERR_MTLS_HANDSHAKE', // any other TLS failure (protocol version, timeout, reset)
] as const;

export type MtlsErrorCode = (typeof MTLS_ERROR_CODES)[number];

/** Why an mTLS peer was refused. Never carries key material. */
export class MtlsError extends Error {
  override readonly name = 'MtlsError';
  readonly code: MtlsErrorCode;
  /** The peer's service name, when its certificate named one. */
  readonly peer: string | undefined;

  constructor(code: MtlsErrorCode, message: string, options: { peer?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.peer = options.peer;
  }
}

/** What the mTLS helpers need of a service: its name and its CAS-issued TLS material. */
export interface MtlsIdentity {
  readonly name: string;
  /** Key, certificate, the CAS root as the only CA, TLS 1.3 minimum. */
  tlsOptions(): SecureContextOptions;
}

/** The identity a peer's certificate proves. */
export interface PeerService {
  readonly service: string;
  readonly instanceId: string;
}

/** Which peers may connect or be connected to: service names, or `'*'` for any CAS-issued service. */
export type AllowedPeers = '*' | readonly string[];

// The same shapes the CAS issues (src/cas/ca.ts): lower-case service names, URL-safe instance ids.
const SERVICE_URI = /^URI:securecloud:\/\/service\/([a-z0-9-]+)\/instance\/([A-Za-z0-9_-]+)$/;
const DEFAULT_HANDSHAKE_MS = 10_000;

/**
 * The service a certificate names, from Node's `subjectaltname` text (`DNS:mdc, URI:securecloud://…`).
 * Null unless exactly one service URI is present (entries Node had to quote never match).
 */
export function parseServiceIdentity(subjectAltName: string | undefined): PeerService | null {
  if (typeof subjectAltName !== 'string') return null;
  const found = subjectAltName
    .split(', ')
    .map((entry) => SERVICE_URI.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null);
  if (found.length !== 1) return null;
  const [, service, instanceId] = found[0] as RegExpExecArray;
  return { service: service as string, instanceId: instanceId as string };
}

/** The service identity of the peer of an authorized TLS socket, or null. */
export function peerService(socket: TLSSocket): PeerService | null {
  if (!socket.authorized) return null;
  return parseServiceIdentity(socket.getPeerCertificate().subjectaltname);
}

/** Checks a peer against the allowed list; returns its identity or throws an {@link MtlsError}. */
export function assertPeerAllowed(
  subjectAltName: string | undefined,
  allowed: AllowedPeers,
  where: string,
): PeerService {
  const peer = parseServiceIdentity(subjectAltName);
  if (peer === null) {
    throw new MtlsError(
      'ERR_MTLS_NOT_A_SERVICE',
      `${where}: the peer's certificate is issued by the CAS but names no service (no securecloud://service/NAME/instance/ID URI); only attested services may connect`,
    );
  }
  if (allowed !== '*' && !allowed.includes(peer.service)) {
    throw new MtlsError(
      'ERR_MTLS_PEER_NOT_ALLOWED',
      `${where}: service "${peer.service}" is not allowed here; allowed: ${allowed.length > 0 ? allowed.join(', ') : '(none)'}`,
      { peer: peer.service },
    );
  }
  return peer;
}

/** Options of {@link createMtlsServer}. */
export interface MtlsServerOptions {
  /** Services allowed to call. Default `'*'`: any service holding a certificate from this CAS. */
  readonly allowedPeers?: AllowedPeers;
  /** Told about every refused peer (handshake refusals and services not allowed). */
  readonly onRefused?: (error: MtlsError) => void;
  /** Handshake timeout, ms. Default 10 000. */
  readonly handshakeTimeoutMs?: number;
}

/** A request handler that also receives the authenticated peer. */
export type MtlsHandler = (req: IncomingMessage, res: ServerResponse, peer: PeerService) => void;

/**
 * An HTTPS server that accepts only clients presenting a certificate issued by the CAS to an allowed
 * service (TLS 1.3, `requestCert`, `rejectUnauthorized`). A client without a certificate or with one
 * from another CA fails the handshake; a service not allowed gets 403 with a JSON error.
 *
 * @example
 * const server = createMtlsServer(service, (req, res, peer) => res.end(`hello ${peer.service}`), {
 *   allowedPeers: ['billing'],
 * });
 * server.listen(8443);
 */
export function createMtlsServer(
  service: MtlsIdentity,
  handler: MtlsHandler,
  options: MtlsServerOptions = {},
): Server {
  const allowed = options.allowedPeers ?? '*';
  const where = `mTLS server of ${service.name}`;
  const server = createServer(
    {
      ...service.tlsOptions(),
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      let peer: PeerService;
      try {
        peer = assertPeerAllowed(socket.getPeerCertificate().subjectaltname, allowed, where);
      } catch (err) {
        const refusal = err as MtlsError;
        options.onRefused?.(refusal);
        res.writeHead(403, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
        return;
      }
      handler(req, res, peer);
    },
  );
  server.on('tlsClientError', (err, socket) => {
    const refusal = handshakeRefusal(err, socket, where);
    if (refusal !== null) options.onRefused?.(refusal);
  });
  return server;
}

/** Why a handshake failed, or null when the client merely went away (not a refusal). */
function handshakeRefusal(
  err: Error & { code?: string },
  socket: TLSSocket,
  where: string,
): MtlsError | null {
  const from = socket.remoteAddress ? ` from ${socket.remoteAddress}` : '';
  if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') {
    return new MtlsError(
      'ERR_MTLS_NO_CERTIFICATE',
      `${where}: refused a client${from} that presented no certificate; services must present the certificate the CAS issued them (see startService)`,
      { cause: err },
    );
  }
  if (socket.authorizationError) {
    return new MtlsError(
      'ERR_MTLS_UNTRUSTED_PEER',
      `${where}: refused a client${from} whose certificate is not issued by this CAS (${String(socket.authorizationError)})`,
      { cause: err },
    );
  }
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return null;
  return new MtlsError('ERR_MTLS_HANDSHAKE', `${where}: TLS handshake${from} failed: ${err.message}`, {
    cause: err,
  });
}

/** Options of the client helpers. */
export interface MtlsClientOptions {
  /** The service(s) the server must be. Default: any service holding a certificate from this CAS. */
  readonly expectedService?: string | readonly string[];
}

function allowedOf(expected: string | readonly string[] | undefined): AllowedPeers {
  if (expected === undefined) return '*';
  return typeof expected === 'string' ? [expected] : expected;
}

/**
 * The `checkServerIdentity` of a client that must reach a CAS-issued `expected` service. It replaces
 * host name checking: a service certificate names the service (DNS and URI), not the host it runs on.
 */
export function expectService(expected: string | readonly string[], self = 'client') {
  return serviceIdentityCheck(allowedOf(expected), self);
}

function serviceIdentityCheck(expected: AllowedPeers, self: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    try {
      assertPeerAllowed(cert.subjectaltname, expected, `mTLS client of ${self}`);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
}

/**
 * An `https.Agent` that presents the service's certificate and accepts only servers with a
 * certificate issued by the CAS to an expected service.
 *
 * @example
 * const agent = mtlsAgent(service, { expectedService: 'mdc' });
 * https.get({ host: 'mdc.internal', port: 8443, path: '/readings', agent }, onResponse);
 */
export function mtlsAgent(service: MtlsIdentity, options: MtlsClientOptions = {}): Agent {
  return new Agent({
    ...service.tlsOptions(),
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: serviceIdentityCheck(allowedOf(options.expectedService), service.name),
  });
}

/** Options of {@link connectMtls}. */
export interface ConnectMtlsOptions extends MtlsClientOptions {
  readonly host: string;
  readonly port: number;
  readonly signal?: AbortSignal;
  /** Connect + handshake timeout, ms. Default 10 000. */
  readonly timeoutMs?: number;
}

/**
 * Opens a TLS 1.3 connection presenting the service's certificate to a server that must hold a
 * certificate issued by the CAS to an expected service. Resolves once the handshake is done;
 * `peerService(socket)` tells who the server is.
 */
export async function connectMtls(service: MtlsIdentity, options: ConnectMtlsOptions): Promise<TLSSocket> {
  const signals = [AbortSignal.timeout(options.timeoutMs ?? DEFAULT_HANDSHAKE_MS)];
  if (options.signal) signals.push(options.signal);
  const signal = AbortSignal.any(signals);
  signal.throwIfAborted();
  const socket = connect({
    ...service.tlsOptions(),
    host: options.host,
    port: options.port,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: serviceIdentityCheck(allowedOf(options.expectedService), service.name),
  });
  return new Promise<TLSSocket>((resolve, reject) => {
    const onAbort = () => socket.destroy(signal.reason as Error);
    const cleanup = () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(explainMtlsError(err) ?? err);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      cleanup();
      resolve(socket);
    });
  });
}

const UNTRUSTED_CODES = /CERT|SIGNATURE|ISSUER|UNABLE_TO_GET|UNABLE_TO_VERIFY/;

/**
 * Translates a TLS error seen by a client into an {@link MtlsError} that says why, or null when it
 * is not an mTLS refusal. See the TLS 1.3 hazard in this module's comment.
 */
export function explainMtlsError(err: unknown): MtlsError | null {
  if (err instanceof MtlsError) return err;
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return null;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return new MtlsError(
      'ERR_MTLS_NO_CERTIFICATE',
      'the server requires a client certificate issued by its CAS and we presented none',
      { cause: err },
    );
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_TLSV1_ALERT_BAD_CERTIFICATE') {
    return new MtlsError('ERR_MTLS_UNTRUSTED_PEER', 'the server does not trust our certificate', {
      cause: err,
    });
  }
  // OpenSSL's certificate verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, …).
  if (!code.startsWith('ERR_') && UNTRUSTED_CODES.test(code)) {
    return new MtlsError(
      'ERR_MTLS_UNTRUSTED_PEER',
      `the server's certificate is not issued by our CAS (${code})`,
      { cause: err },
    );
  }
  return null;
}
