/**
 * Key directories: which CURVE public keys are admitted on each channel. The CAS-backed one polls
 * `GET /v1/channels/NAME/keys` (and refreshes on a miss, rate-limited), and forgets a channel's list
 * when it could not refresh it for too long, so that a revoked key is not admitted forever while the
 * CAS is unreachable. The static one is for unit tests and fixed deployments.
 */
import { assertChannelName } from './channel-policy.ts';
import { isCurveKey } from './curve-keys.ts';
import { BusError } from './errors.ts';
import type { AdmittedKey, ChannelRole, KeyDirectoryView } from './transport.ts';
import type { BusLogger } from './zap.ts';

const ROLES: readonly ChannelRole[] = ['publisher', 'subscriber', 'requester', 'replier'];
const SERVICE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_KEYS_PER_CHANNEL = 100_000;

/** A key directory: the transport's view plus listing and life-cycle. */
export interface KeyDirectory extends KeyDirectoryView {
  /** The admitted keys of `channel` (refreshing first when the list is missing or stale). */
  keys(channel: string, options?: { signal?: AbortSignal }): Promise<readonly AdmittedKey[]>;
  /** Keys of `service` on `channel` holding `role`: how a client finds the server key to pin. */
  keysOf(channel: string, service: string, role?: ChannelRole): Promise<readonly AdmittedKey[]>;
  /** Fetches `channel`'s list now. */
  refresh(channel: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Stops polling. Idempotent. */
  close(): void;
}

/** What the CAS answers for a channel (`GET /v1/channels/NAME/keys`). */
export interface ChannelKeysSource {
  channelKeys(
    channel: string,
    options?: { signal?: AbortSignal },
  ): Promise<{ readonly keys: readonly unknown[] }>;
}

/** Options of {@link createCasKeyDirectory}. */
export interface CasKeyDirectoryOptions {
  /** A CAS client authenticated with the instance's certificate. */
  readonly cas: ChannelKeysSource;
  /** Channels polled from the start (others are fetched on first use, then polled). */
  readonly channels?: readonly string[];
  /** Poll period (default 5000 ms). */
  readonly refreshMs?: number;
  /** Least time between two fetches of one channel caused by misses (default 1000 ms). */
  readonly minRefreshMs?: number;
  /** A list not refreshed for this long is dropped: every key is refused (default 3 × refreshMs). */
  readonly maxStaleMs?: number;
  readonly logger?: BusLogger;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

interface ChannelState {
  keys: Map<string, AdmittedKey> | undefined;
  fetchedAt: number;
  attemptedAt: number;
  inFlight: Promise<void> | undefined;
}

/** Validates one entry of a CAS answer; throws ERR_BUS_KEY_DIRECTORY. */
export function readAdmittedKey(value: unknown, where: string): AdmittedKey {
  const bad = (what: string): never => {
    throw new BusError('ERR_BUS_KEY_DIRECTORY', `${where}: ${what}`);
  };
  if (value === null || typeof value !== 'object') return bad('expected an object');
  const v = value as Record<string, unknown>;
  if (!isCurveKey(v.publicKey)) bad('publicKey is not a Z85 CURVE key');
  if (typeof v.service !== 'string' || !SERVICE.test(v.service)) bad('service is not a service name');
  if (typeof v.instanceId !== 'string' || v.instanceId.length === 0 || v.instanceId.length > 128)
    bad('instanceId is not 1..128 characters');
  const roles = Array.isArray(v.roles) ? v.roles : bad('roles is not a list');
  if (roles.length === 0 || !roles.every((r) => ROLES.includes(r as ChannelRole)))
    bad(`roles must be a non-empty list of ${ROLES.join(', ')}`);
  return {
    publicKey: v.publicKey as string,
    service: v.service as string,
    instanceId: v.instanceId as string,
    roles: [...new Set(roles as ChannelRole[])],
  };
}

/**
 * A directory backed by the CAS.
 *
 * @example
 * const directory = createCasKeyDirectory({ cas: instanceClient, channels: ['readings'] });
 * const transport = createZmqTransport({ keyDirectory: directory });
 */
export function createCasKeyDirectory(options: CasKeyDirectoryOptions): KeyDirectory {
  const refreshMs = options.refreshMs ?? 5000;
  const minRefreshMs = options.minRefreshMs ?? 1000;
  const maxStaleMs = options.maxStaleMs ?? 3 * refreshMs;
  const now = options.now ?? Date.now;
  const channels = new Map<string, ChannelState>();
  let closed = false;

  const stateOf = (channel: string): ChannelState => {
    assertChannelName(channel);
    let state = channels.get(channel);
    if (state === undefined) {
      state = { keys: undefined, fetchedAt: -Infinity, attemptedAt: -Infinity, inFlight: undefined };
      channels.set(channel, state);
    }
    return state;
  };
  const fetch = (channel: string, state: ChannelState, signal?: AbortSignal): Promise<void> => {
    if (state.inFlight) return state.inFlight;
    state.attemptedAt = now();
    state.inFlight = fetchKeys(options.cas, channel, signal)
      .then((keys) => {
        state.keys = keys;
        state.fetchedAt = now();
      })
      .catch((err) => {
        options.logger?.log('warn', 'bus key directory refresh failed', {
          channel,
          error: err instanceof Error ? err.message : String(err),
        });
        throw err;
      })
      .finally(() => {
        state.inFlight = undefined;
      });
    return state.inFlight;
  };
  const current = (state: ChannelState): Map<string, AdmittedKey> | undefined => {
    if (state.keys !== undefined && now() - state.fetchedAt > maxStaleMs) state.keys = undefined;
    return state.keys;
  };
  const ensure = async (channel: string, signal?: AbortSignal) => {
    const state = stateOf(channel);
    if (current(state) === undefined || now() - state.fetchedAt >= refreshMs)
      await fetch(channel, state, signal);
    return current(state) ?? new Map<string, AdmittedKey>();
  };
  for (const channel of options.channels ?? []) stateOf(channel);
  const timer = setInterval(() => {
    for (const [channel, state] of channels) fetch(channel, state).catch(() => {});
  }, refreshMs);
  timer.unref();

  return {
    async find(channel, publicKey) {
      const state = stateOf(channel);
      const hit = current(state)?.get(publicKey);
      if (hit !== undefined || closed) return hit;
      if (current(state) !== undefined && now() - state.attemptedAt < minRefreshMs) return undefined;
      await fetch(channel, state);
      return current(state)?.get(publicKey);
    },
    keys: async (channel, o = {}) => [...(await ensure(channel, o.signal)).values()],
    keysOf: async (channel, service, role) =>
      [...(await ensure(channel)).values()].filter(
        (k) => k.service === service && (role === undefined || k.roles.includes(role)),
      ),
    refresh: (channel, o = {}) => fetch(channel, stateOf(channel), o.signal),
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

async function fetchKeys(
  cas: ChannelKeysSource,
  channel: string,
  signal?: AbortSignal,
): Promise<Map<string, AdmittedKey>> {
  let answer: { readonly keys: readonly unknown[] };
  try {
    answer = await cas.channelKeys(channel, signal ? { signal } : {});
  } catch (err) {
    const reason = err instanceof Error ? `: ${err.message}` : '';
    throw new BusError('ERR_BUS_KEY_DIRECTORY', `could not fetch the keys of channel "${channel}"${reason}`, {
      cause: err,
      detail: { channel },
    });
  }
  if (!Array.isArray(answer?.keys) || answer.keys.length > MAX_KEYS_PER_CHANNEL)
    throw new BusError('ERR_BUS_KEY_DIRECTORY', `the CAS answer for channel "${channel}" has no keys list`);
  const out = new Map<string, AdmittedKey>();
  for (const [i, value] of answer.keys.entries()) {
    const entry = readAdmittedKey(value, `channel "${channel}" keys[${i}]`);
    out.set(entry.publicKey, entry);
  }
  return out;
}

/** A directory whose lists are set in code: unit tests and fixed deployments. */
export interface StaticKeyDirectory extends KeyDirectory {
  /** Adds (or replaces) an admitted key on `channel`. */
  add(channel: string, entry: AdmittedKey): void;
  /** Removes `publicKey` from `channel`; true when it was there. */
  remove(channel: string, publicKey: string): boolean;
}

/**
 * Creates a static directory, optionally pre-filled.
 *
 * @example
 * const directory = createStaticKeyDirectory({ readings: [{ publicKey, service: 'mdc', instanceId: 'i1', roles: ['publisher'] }] });
 */
export function createStaticKeyDirectory(
  initial: Readonly<Record<string, readonly AdmittedKey[]>> = {},
): StaticKeyDirectory {
  const channels = new Map<string, Map<string, AdmittedKey>>();
  const listOf = (channel: string) => {
    assertChannelName(channel);
    let list = channels.get(channel);
    if (list === undefined) {
      list = new Map();
      channels.set(channel, list);
    }
    return list;
  };
  const directory: StaticKeyDirectory = {
    find: async (channel, publicKey) => listOf(channel).get(publicKey),
    keys: async (channel) => [...listOf(channel).values()],
    keysOf: async (channel, service, role) =>
      [...listOf(channel).values()].filter(
        (k) => k.service === service && (role === undefined || k.roles.includes(role)),
      ),
    refresh: async () => {},
    close: () => {},
    add: (channel, entry) => {
      const checked = readAdmittedKey(entry, `static entry on "${channel}"`);
      listOf(channel).set(checked.publicKey, checked);
    },
    remove: (channel, publicKey) => listOf(channel).delete(publicKey),
  };
  for (const [channel, entries] of Object.entries(initial))
    for (const e of entries) directory.add(channel, e);
  return directory;
}
