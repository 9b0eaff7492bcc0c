/**
 * The SCBR protocol between clients and the router, over DEALER (client) → ROUTER (router) sockets.
 * Every frame starts with the version byte and a kind byte. Plain frames: HELLO (client asks for the
 * router key), ROUTER_KEY (the signed announcement), DELIVER (a matched payload, still sealed with the
 * group key) and ERROR (the router could not open a client message, so it cannot seal its answer).
 * Sealed frames (envelope.ts): PUBLISH (header, then the payload frame), SUBSCRIBE, UNSUBSCRIBE,
 * HEARTBEAT and BYE up, REPLY down. Request bodies are JSON with a request number `n` that the REPLY
 * echoes.
 */

import { ENVELOPE_VERSION } from './envelope.ts';
import { ScbrError } from './errors.ts';

/** Default channel names: publishers and subscribers are admitted separately. */
export const SCBR_CHANNELS = { publish: 'scbr.publish', subscribe: 'scbr.subscribe' } as const;

/** The name payloads are bound to by default (in their associated data): one per group key and router. */
export const DEFAULT_SCBR_SPACE = 'scbr';

/** Message kinds (second byte of every frame). */
export const KIND = {
  hello: 1,
  routerKey: 2,
  publish: 3,
  subscribe: 4,
  unsubscribe: 5,
  heartbeat: 6,
  bye: 7,
  reply: 8,
  deliver: 9,
  error: 10,
} as const;

/** Subscription ids chosen by clients: 1–64 characters of `A-Za-z0-9_-`. */
export const SUBSCRIPTION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TTL_MS = 24 * 60 * 60_000;

/** A two-byte frame head followed by `body`. */
export function plainFrame(kind: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = kind;
  out.set(body, 2);
  return out;
}

/** The kind byte of a frame, or undefined when it is not one of ours. */
export function kindOf(frame: Uint8Array | undefined): number | undefined {
  return frame !== undefined && frame.length >= 2 && frame[0] === ENVELOPE_VERSION ? frame[1] : undefined;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** JSON to bytes. */
export function jsonBytes(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

/** Bytes to a JSON object; `ERR_SCBR_ENVELOPE_MALFORMED` otherwise. */
export function readJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(bytes));
  } catch (cause) {
    throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', `${what}: not UTF-8 JSON`, { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', `${what}: not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** A client request, validated. */
export type ScbrRequest =
  | {
      readonly kind: 'subscribe';
      readonly n: number;
      readonly id: string;
      readonly filter: string;
      readonly ttlMs?: number;
    }
  | { readonly kind: 'unsubscribe'; readonly n: number; readonly id: string }
  | { readonly kind: 'heartbeat'; readonly n: number }
  | { readonly kind: 'bye'; readonly n: number };

/** Validates a request body of `kind` at the router's boundary. */
export function readRequest(kind: number, body: Uint8Array): ScbrRequest {
  const o = readJson(body, 'request');
  const n = o.n;
  if (!Number.isSafeInteger(n) || (n as number) < 0) throw bad('n must be a non-negative integer');
  switch (kind) {
    case KIND.subscribe: {
      const id = subscriptionId(o.id);
      if (typeof o.filter !== 'string') throw bad('filter must be a string');
      if (
        o.ttlMs !== undefined &&
        (!Number.isSafeInteger(o.ttlMs) || (o.ttlMs as number) < 1 || (o.ttlMs as number) > MAX_TTL_MS)
      ) {
        throw bad(`ttlMs must be an integer 1..${MAX_TTL_MS}`);
      }
      const base = { kind: 'subscribe' as const, n: n as number, id, filter: o.filter };
      return o.ttlMs === undefined ? base : { ...base, ttlMs: o.ttlMs as number };
    }
    case KIND.unsubscribe:
      return { kind: 'unsubscribe', n: n as number, id: subscriptionId(o.id) };
    case KIND.heartbeat:
      return { kind: 'heartbeat', n: n as number };
    case KIND.bye:
      return { kind: 'bye', n: n as number };
    default:
      throw bad(`unknown request kind ${kind}`);
  }
}

function subscriptionId(value: unknown): string {
  if (typeof value !== 'string' || !SUBSCRIPTION_ID.test(value))
    throw bad('id must be 1-64 characters of A-Za-z0-9_-');
  return value;
}

function bad(message: string): ScbrError {
  return new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', `request: ${message}`);
}

/** The router's answer to a request. */
export interface ScbrReply {
  readonly n: number;
  readonly ok: boolean;
  /** When `ok` is false. */
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly line?: number;
    readonly column?: number;
  };
  /** Heartbeat answers: subscriptions the router holds for this client. */
  readonly subscriptions?: number;
}

/** Validates a reply at the client's boundary. */
export function readReply(body: Uint8Array): ScbrReply {
  const o = readJson(body, 'reply');
  if (!Number.isSafeInteger(o.n) || typeof o.ok !== 'boolean') {
    throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'reply: needs n and ok');
  }
  return o as unknown as ScbrReply;
}
