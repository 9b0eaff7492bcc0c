/**
 * The CURVE public keys that attested instances record for the secure bus (one per instance). A key
 * counts only while its instance's lease is alive: the CAS lists it to the channel's peers until the
 * lease ends (expiry, release, or a policy update that removes the service), then forgets it.
 * In memory only, like the leases: after a CAS restart instances attest again and re-register.
 */
import type { X509Certificate } from 'node:crypto';
import { CasError } from './errors.ts';
import type { InstanceLeases } from './instance-leases.ts';
import { channelRolesOf } from './policy-channels.ts';
import type { Policy } from './policy-types.ts';
import type { ChannelKeyEntry, ChannelKeysAnswer } from './protocol.ts';
import { instanceIdentityOf, instanceServiceOf } from './user-access.ts';

const Z85 = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
const Z85_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** True for a Z85-encoded 32-byte key (40 characters, each 5-character group at most 2^32 - 1). */
export function isZ85Key(value: unknown): value is string {
  if (typeof value !== 'string' || !Z85.test(value)) return false;
  for (let i = 0; i < 40; i += 5) {
    let group = 0;
    for (let j = 0; j < 5; j++) group = group * 85 + Z85_ALPHABET.indexOf(value[i + j]!);
    if (group > 0xffffffff) return false;
  }
  return true;
}

/** One registered key. */
export interface BusKeyRecord {
  readonly instanceId: string;
  readonly service: string;
  readonly publicKey: string;
}

/** Registered keys by instance, with the reverse index that keeps a key bound to one instance. */
export class BusKeyRegistry {
  readonly #byInstance = new Map<string, BusKeyRecord>();
  readonly #byKey = new Map<string, string>();

  /**
   * Records `publicKey` for the instance (replacing its previous key). ERR_CONFLICT when another
   * instance registered the same key first: a key identifies exactly one attested instance.
   */
  put(instanceId: string, service: string, publicKey: string): void {
    if (!isZ85Key(publicKey)) {
      throw new CasError('ERR_BAD_REQUEST', '"publicKey" must be a Z85 CURVE public key (40 characters)', {
        path: 'publicKey',
      });
    }
    const holder = this.#byKey.get(publicKey);
    if (holder !== undefined && holder !== instanceId) {
      throw new CasError(
        'ERR_CONFLICT',
        'this CURVE key is already registered by another instance; each instance must generate its own key',
        { path: 'publicKey' },
      );
    }
    this.delete(instanceId);
    this.#byInstance.set(instanceId, { instanceId, service, publicKey });
    this.#byKey.set(publicKey, instanceId);
  }

  delete(instanceId: string): void {
    const old = this.#byInstance.get(instanceId);
    if (old === undefined) return;
    this.#byInstance.delete(instanceId);
    this.#byKey.delete(old.publicKey);
  }

  /** The records whose instance `alive` says still holds a lease; forgets the others. */
  live(alive: (instanceId: string, service: string) => boolean): BusKeyRecord[] {
    const out: BusKeyRecord[] = [];
    for (const record of [...this.#byInstance.values()]) {
      if (alive(record.instanceId, record.service)) out.push(record);
      else this.delete(record.instanceId);
    }
    return out;
  }

  get size(): number {
    return this.#byInstance.size;
  }
}

/** What the bus routes need from the CAS state. */
export interface BusAccessContext {
  readonly policy: Policy | null;
  readonly root: X509Certificate;
  readonly now: number;
  readonly leases: InstanceLeases;
  readonly keys: BusKeyRegistry;
}

/**
 * `PUT /v1/instances/ID/curve-key`: the caller (mTLS with the instance certificate of `instanceId`)
 * records its CURVE public key. Its lease must be alive (ERR_NOT_FOUND otherwise: attest again).
 */
export function recordCurveKey(
  ctx: BusAccessContext,
  certificate: X509Certificate | null,
  instanceId: string,
  publicKey: string,
): BusKeyRecord {
  const service = instanceServiceOf(certificate, ctx.root, ctx.now, instanceId);
  if (!ctx.leases.isAlive(instanceId, service)) {
    throw new CasError(
      'ERR_NOT_FOUND',
      `instance ${instanceId} of "${service}" has no live lease (expired, released, or the CAS restarted): attest again`,
    );
  }
  ctx.keys.put(instanceId, service, publicKey);
  return { instanceId, service, publicKey };
}

/**
 * `GET /v1/channels/NAME/keys`: the CURVE keys of the channel's live instances with their roles. Only
 * for a live instance of a service on that channel (ERR_FORBIDDEN otherwise).
 */
export function listChannelKeys(
  ctx: BusAccessContext,
  certificate: X509Certificate | null,
  channel: string,
): ChannelKeysAnswer {
  const caller = instanceIdentityOf(certificate, ctx.root, ctx.now);
  if (!ctx.leases.isAlive(caller.instanceId, caller.service)) {
    throw new CasError(
      'ERR_FORBIDDEN',
      `instance ${caller.instanceId} of "${caller.service}" has no live lease: attest again`,
    );
  }
  if (ctx.policy === null || !Object.hasOwn(ctx.policy.channels, channel))
    throw new CasError('ERR_NOT_FOUND', `the policy in force has no channel "${channel}"`);
  if (channelRolesOf(ctx.policy, channel, caller.service).length === 0)
    throw new CasError('ERR_FORBIDDEN', `service "${caller.service}" is not on channel "${channel}"`);
  const keys: ChannelKeyEntry[] = [];
  for (const record of ctx.keys.live((id, service) => ctx.leases.isAlive(id, service))) {
    const roles = channelRolesOf(ctx.policy, channel, record.service);
    if (roles.length > 0) keys.push({ ...record, roles });
  }
  return { channel, keys };
}
