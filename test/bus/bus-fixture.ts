// Shared set-up of the bus tests: identities with fresh CURVE keys, a static key directory, and
// helpers that wait for events instead of sleeping.
import {
  type AdmittedKey,
  type BusSocketEvent,
  type ChannelRole,
  CurveBusIdentity,
  createStaticKeyDirectory,
  createZmqTransport,
  generateCurveKeyPair,
  isBusError,
  type PublisherSocket,
  type StaticKeyDirectory,
  type SubscriberSocket,
  type Transport,
  type ZapDecision,
  type ZmqTransportOptions,
} from '../../src/bus/index.ts';

let nextInstance = 1;

/** A bus identity of `service` with a fresh key (no CAS behind it). */
export function identity(service: string): CurveBusIdentity {
  const instanceId = `i${nextInstance++}`;
  return new CurveBusIdentity(service, generateCurveKeyPair(), {
    certificatePem: '',
    serviceUri: `securecloud://service/${service}/instance/${instanceId}`,
    instanceId,
    simulation: true,
  });
}

/** The directory entry admitting `who` with `roles`. */
export function entry(who: CurveBusIdentity, roles: ChannelRole[]): AdmittedKey {
  return { publicKey: who.publicKey, service: who.service, instanceId: who.credential.instanceId, roles };
}

/** Records ZAP decisions and lets a test wait for the next one matching a predicate. */
export class DecisionLog {
  readonly decisions: ZapDecision[] = [];
  #waiters: Array<{ match: (d: ZapDecision) => boolean; resolve: (d: ZapDecision) => void }> = [];

  readonly record = (d: ZapDecision): void => {
    this.decisions.push(d);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(d)) return true;
      w.resolve(d);
      return false;
    });
  };

  /** The first decision (already recorded or future) matching `match`. */
  next(match: (d: ZapDecision) => boolean): Promise<ZapDecision> {
    const seen = this.decisions.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

/** Collects socket events and lets a test wait for one. */
export class EventLog {
  readonly events: BusSocketEvent[] = [];
  #waiters: Array<{ match: (e: BusSocketEvent) => boolean; resolve: (e: BusSocketEvent) => void }> = [];

  readonly record = (e: BusSocketEvent): void => {
    this.events.push(e);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(e)) return true;
      w.resolve(e);
      return false;
    });
  };

  /** The first event (recorded or future) of `type`. */
  next(type: BusSocketEvent['type']): Promise<BusSocketEvent> {
    return this.match((e) => e.type === type);
  }

  /** The first event (recorded or future) matching `match`. */
  match(match: (e: BusSocketEvent & { reason?: string }) => boolean): Promise<BusSocketEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

/** A ZeroMQ transport over `directory`, recording its ZAP decisions. */
export function transport(
  directory: StaticKeyDirectory,
  extra: Partial<ZmqTransportOptions> = {},
): { transport: Transport; decisions: DecisionLog } {
  const decisions = new DecisionLog();
  return {
    transport: createZmqTransport({ keyDirectory: directory, onZapDecision: decisions.record, ...extra }),
    decisions,
  };
}

export { createStaticKeyDirectory };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 frames. */
export function frames(...parts: string[]): Uint8Array[] {
  return parts.map((p) => enc.encode(p));
}

/** Frames as strings. */
export function strings(message: readonly Uint8Array[]): string[] {
  return message.map((f) => dec.decode(f));
}

/**
 * Publishes `probe` until the subscriber receives a message (pub/sub has no delivery before the
 * subscription reaches the publisher): returns that first message. Event-driven, no sleeps.
 */
export async function firstDelivery(
  pub: PublisherSocket,
  sub: SubscriberSocket,
  probe: Uint8Array[] = frames('probe'),
): Promise<Uint8Array[]> {
  let settled = false;
  const receiving = sub.receive().finally(() => {
    settled = true;
  });
  while (!settled) {
    await pub.send(probe);
    await new Promise((r) => setImmediate(r));
  }
  return receiving;
}

/**
 * Runs `bind` until it no longer fails with ERR_BUS_BIND (libzmq releases a closed listener on
 * its I/O thread, after close() returns), for at most `timeoutMs`.
 */
export async function untilBound<T>(bind: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await bind();
    } catch (err) {
      if (!isBusError(err, 'ERR_BUS_BIND') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
