/**
 * The bus side of the CAS channel policy: which peers a socket admits. The CAS lists, per channel,
 * the attested instances' CURVE keys with the roles the policy grants their services
 * (`channels.NAME.publishers` …); a socket of a given kind admits only peers holding the role its
 * peers need ({@link SOCKET_ROLES}).
 */
import { type AdmittedKey, type BusSocketKind, type ChannelRole, SOCKET_ROLES } from './transport.ts';

/** A channel name: what the CAS policy accepts, and a valid ZAP domain. */
export const CHANNEL_NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Why a peer is not admitted. */
export type AdmissionRefusal =
  | 'key-unknown' // the key is not listed on the channel: not attested, lease ended, or its service is not on the channel
  | 'role-not-allowed' // listed, but its roles do not include what this socket's peers need
  | 'no-socket-on-channel'; // nothing of ours is bound on that channel (ZAP domain)

export type Admission =
  | { readonly admitted: true; readonly entry: AdmittedKey }
  | { readonly admitted: false; readonly reason: AdmissionRefusal; readonly entry?: AdmittedKey };

/** The role a peer of a socket of `kind` must hold. */
export function peerRoleOf(kind: BusSocketKind): ChannelRole {
  return SOCKET_ROLES[kind].peer;
}

/** The role a socket of `kind` plays itself. */
export function ownRoleOf(kind: BusSocketKind): ChannelRole {
  return SOCKET_ROLES[kind].own;
}

/** Decides whether `entry` (the directory's answer for a key, or undefined) may be a peer with one of `roles`. */
export function admit(
  entry: AdmittedKey | undefined,
  roles: ReadonlySet<ChannelRole> | undefined,
): Admission {
  if (roles === undefined || roles.size === 0) return { admitted: false, reason: 'no-socket-on-channel' };
  if (entry === undefined) return { admitted: false, reason: 'key-unknown' };
  if (!entry.roles.some((r) => roles.has(r))) return { admitted: false, reason: 'role-not-allowed', entry };
  return { admitted: true, entry };
}

/** Throws a TypeError unless `channel` is a valid channel name. */
export function assertChannelName(channel: unknown): asserts channel is string {
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) {
    throw new TypeError(
      `invalid channel name ${JSON.stringify(channel)}: lower-case letters, digits and "._-", 1..64 characters`,
    );
  }
}

/**
 * The server sockets bound per channel, and so the peer roles each channel (ZAP domain) admits.
 * A transport keeps one; its ZAP handler asks it for a domain's roles.
 */
export class ChannelRegistry {
  readonly #bound = new Map<string, Map<number, ChannelRole>>();
  #next = 0;

  /** Records a bound socket of `kind` on `channel`; returns the function that forgets it. */
  register(channel: string, kind: BusSocketKind): () => void {
    const id = this.#next++;
    let sockets = this.#bound.get(channel);
    if (sockets === undefined) {
      sockets = new Map();
      this.#bound.set(channel, sockets);
    }
    sockets.set(id, peerRoleOf(kind));
    return () => {
      const current = this.#bound.get(channel);
      current?.delete(id);
      if (current?.size === 0) this.#bound.delete(channel);
    };
  }

  /**
   * The roles peers may hold to connect on `channel`: the union over the sockets bound there. (ZAP
   * does not say which socket asks, so two kinds bound on one channel admit each other's peers.)
   */
  peerRoles(channel: string): ReadonlySet<ChannelRole> | undefined {
    const sockets = this.#bound.get(channel);
    return sockets === undefined ? undefined : new Set(sockets.values());
  }
}
