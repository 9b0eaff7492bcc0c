/**
 * A ZAP handler (ZeroMQ RFC 27) that admits only CURVE clients whose public key the key directory
 * lists on the socket's channel (ZAP domain = channel name) with a role the channel's bound sockets
 * accept. Everything else is refused and logged with the reason: the NULL and PLAIN mechanisms,
 * unknown keys, keys of services not on the channel, and malformed requests. This file does not know
 * ZeroMQ: the adapter binds a router socket on `inproc://zeromq.zap.01` and hands it over.
 */
import type { LogFields } from '../cas/index.ts';
import { type AdmissionRefusal, admit } from './channel-policy.ts';
import { z85Encode } from './curve-keys.ts';
import type { ChannelRole, KeyDirectoryView } from './transport.ts';

/** The endpoint libzmq sends ZAP requests to (one handler per ZeroMQ context). */
export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** Structured logging (the CAS logger shape). */
export interface BusLogger {
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: LogFields): void;
}

/** The router socket the handler reads requests from and answers on. */
export interface ZapSocket {
  readonly closed: boolean;
  receive(): Promise<Uint8Array[]>;
  send(frames: Uint8Array[]): Promise<void>;
}

/** Why a ZAP request was refused. */
export type ZapRefusal =
  | AdmissionRefusal
  | 'mechanism-not-curve' // NULL, PLAIN or GSSAPI: only CURVE is admitted
  | 'malformed-request' // not a ZAP 1.0 request with one 32-byte CURVE key
  | 'directory-unavailable'; // the key directory failed (status 300: temporary)

/** One decision, for logs, metrics and tests. Never holds key material other than the public key. */
export interface ZapDecision {
  readonly admitted: boolean;
  readonly reason?: ZapRefusal;
  readonly domain: string;
  readonly address: string;
  readonly mechanism: string;
  /** Z85 public key of the client (CURVE only). */
  readonly publicKey?: string;
  readonly service?: string;
  readonly instanceId?: string;
}

/** Options of {@link startZapHandler}. */
export interface ZapHandlerOptions {
  readonly socket: ZapSocket;
  readonly directory: KeyDirectoryView;
  /** The roles a peer may hold on a domain (channel); undefined when nothing is bound there. */
  readonly peerRoles: (domain: string) => ReadonlySet<ChannelRole> | undefined;
  readonly logger?: BusLogger;
  readonly onDecision?: (decision: ZapDecision) => void;
}

/** A running handler; it stops when its socket's `receive` rejects (socket closed). Start it after the bind. */
export interface ZapHandler {
  /** Resolves when the receive loop has ended. */
  readonly done: Promise<void>;
}

/** A ZAP request as received on the router socket. */
export interface ZapRequest {
  readonly version: string;
  readonly envelope: Uint8Array[];
  readonly requestId: Uint8Array;
  readonly domain: string;
  readonly address: string;
  readonly mechanism: string;
  readonly credentials: Uint8Array[];
}

const text = new TextDecoder();
const encode = (s: string) => new TextEncoder().encode(s);

/**
 * Splits a request received on the router: the envelope up to the empty delimiter, then the RFC 27
 * frames. Undefined when there is no envelope or request id (nothing can be answered).
 */
export function parseZapRequest(frames: readonly Uint8Array[]): ZapRequest | undefined {
  const delimiter = frames.findIndex((f) => f.length === 0);
  if (delimiter < 1) return undefined;
  const body = frames.slice(delimiter + 1);
  const [version, requestId, domain, address, , mechanism, ...credentials] = body;
  if (requestId === undefined) return undefined;
  return {
    version: version === undefined ? '' : text.decode(version),
    envelope: frames.slice(0, delimiter + 1),
    requestId,
    domain: domain === undefined ? '' : text.decode(domain),
    address: address === undefined ? '' : text.decode(address),
    mechanism: mechanism === undefined ? '' : text.decode(mechanism),
    credentials,
  };
}

/** The RFC 27 reply frames (after the envelope). `userId` is the admitted service/instance. */
export function zapReplyFrames(requestId: Uint8Array, decision: ZapDecision): Uint8Array[] {
  const status = decision.admitted
    ? '200'
    : decision.reason === 'directory-unavailable'
      ? '300'
      : decision.reason === 'malformed-request'
        ? '500'
        : '400';
  const userId = decision.admitted ? `${decision.service}/${decision.instanceId}` : '';
  return [
    encode('1.0'),
    requestId,
    encode(status),
    encode(decision.reason ?? 'OK'),
    encode(userId),
    new Uint8Array(0),
  ];
}

/** Decides one parsed request. */
export async function decideZap(
  request: ZapRequest,
  directory: KeyDirectoryView,
  peerRoles: (domain: string) => ReadonlySet<ChannelRole> | undefined,
): Promise<ZapDecision> {
  const base = { domain: request.domain, address: request.address, mechanism: request.mechanism };
  if (request.version !== '1.0') return { ...base, admitted: false, reason: 'malformed-request' };
  if (request.mechanism !== 'CURVE') return { ...base, admitted: false, reason: 'mechanism-not-curve' };
  const key = request.credentials[0];
  if (request.credentials.length !== 1 || key?.length !== 32)
    return { ...base, admitted: false, reason: 'malformed-request' };
  const publicKey = z85Encode(key);
  const roles = peerRoles(request.domain);
  if (roles === undefined) return { ...base, publicKey, admitted: false, reason: 'no-socket-on-channel' };
  let entry: Awaited<ReturnType<KeyDirectoryView['find']>>;
  try {
    entry = await directory.find(request.domain, publicKey);
  } catch {
    return { ...base, publicKey, admitted: false, reason: 'directory-unavailable' };
  }
  const admission = admit(entry, roles);
  const who = admission.entry
    ? { service: admission.entry.service, instanceId: admission.entry.instanceId }
    : {};
  return admission.admitted
    ? { ...base, publicKey, ...who, admitted: true }
    : { ...base, publicKey, ...who, admitted: false, reason: admission.reason };
}

/**
 * Serves ZAP requests from `options.socket` until it closes. Requests are decided concurrently (a
 * directory refresh does not hold up other handshakes) and answered in completion order.
 */
export function startZapHandler(options: ZapHandlerOptions): ZapHandler {
  let sending: Promise<void> = Promise.resolve();
  const answer = (frames: Uint8Array[]) => {
    sending = sending.then(() => options.socket.send(frames)).catch(() => {});
    return sending;
  };
  const handle = async (frames: Uint8Array[]) => {
    const request = parseZapRequest(frames);
    if (request === undefined) {
      report(options, {
        admitted: false,
        reason: 'malformed-request',
        domain: '',
        address: '',
        mechanism: '',
      });
      return;
    }
    const decision = await decideZap(request, options.directory, options.peerRoles);
    report(options, decision);
    await answer([...request.envelope, ...zapReplyFrames(request.requestId, decision)]);
  };
  const loop = async () => {
    for (;;) {
      let frames: Uint8Array[];
      try {
        frames = await options.socket.receive();
      } catch (err) {
        // Fail closed: with zapEnforceDomain, handshakes are refused while no handler answers.
        if (!options.socket.closed) {
          options.logger?.log('error', 'bus ZAP handler stopped', {
            error: err instanceof Error ? err.message : String(err),
          });
        }
        return;
      }
      handle(frames).catch((err) => {
        options.logger?.log('error', 'bus ZAP request failed', {
          error: err instanceof Error ? err.message : String(err),
        });
      });
    }
  };
  return { done: loop() };
}

function report(options: ZapHandlerOptions, decision: ZapDecision): void {
  options.onDecision?.(decision);
  if (decision.admitted) return;
  const fields: Record<string, string> = {
    channel: decision.domain,
    reason: decision.reason ?? '',
    mechanism: decision.mechanism,
    address: decision.address,
  };
  if (decision.publicKey) fields.publicKey = decision.publicKey;
  if (decision.service) fields.service = decision.service;
  options.logger?.log('warn', 'bus peer refused', fields);
}
