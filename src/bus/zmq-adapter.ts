/**
 * The ZeroMQ implementation of {@link Transport} — the only file that imports `zeromq`. One ZeroMQ
 * context per transport, with our ZAP handler bound on `inproc://zeromq.zap.01` in it: every socket
 * that binds is a CURVE server with ZAP domain = its channel and `zapEnforceDomain` on (no handler,
 * no admission), every socket that connects is a CURVE client pinned to a server key that the key
 * directory lists on the channel.
 */
import * as zmq from 'zeromq';
import type { MetricsRegistry } from '../platform/index.ts';
import { admit, ChannelRegistry, peerRoleOf } from './channel-policy.ts';
import { ClientConnections } from './client-connections.ts';
import { isCurveKey } from './curve-keys.ts';
import { BusError } from './errors.ts';
import type { NativeSocket, SocketHost } from './socket-core.ts';
import { SocketCore } from './socket-core.ts';
import {
  BusDealer,
  BusPublisher,
  BusPull,
  BusPush,
  BusReply,
  BusRequest,
  BusRouter,
  BusSubscriber,
} from './socket-kinds.ts';
import {
  BUS_DEFAULTS,
  type BusSocketEvent,
  type BusSocketKind,
  type BusSocketOptions,
  type ConnectOptions,
  type DealerSocketOptions,
  type KeyDirectoryView,
  type RequestSocketOptions,
  type Transport,
} from './transport.ts';
import { type BusLogger, startZapHandler, ZAP_ENDPOINT, type ZapDecision, type ZapSocket } from './zap.ts';

/** Options of {@link createZmqTransport}. */
export interface ZmqTransportOptions {
  /** Which CURVE keys each channel admits (CAS-backed in services, static in unit tests). */
  readonly keyDirectory: KeyDirectoryView;
  /** Lets sockets use the NULL mechanism (no encryption, no authentication). Benchmarks only. */
  readonly allowNullMechanism?: boolean;
  readonly logger?: BusLogger;
  /** Counts ZAP decisions and handshake failures (`securecloud_bus_*`). */
  readonly metrics?: MetricsRegistry;
  /** Called with every ZAP decision (tests, audit). */
  readonly onZapDecision?: (decision: ZapDecision) => void;
  /** First reconnection delay after a peer goes away (default 100 ms), doubling up to the maximum. */
  readonly reconnectIntervalMs?: number;
  /** Longest reconnection delay (default 5000 ms). */
  readonly reconnectIntervalMaxMs?: number;
  /** Deadline of a connection's security handshake (default 10000 ms). */
  readonly handshakeTimeoutMs?: number;
  /**
   * libzmq does not reconnect after the server's ZAP handler refused the handshake; our connecting
   * sockets do, after this delay (default 1000 ms), doubling up to `refusedRetryMaxMs` (30000 ms).
   */
  readonly refusedRetryMs?: number;
  readonly refusedRetryMaxMs?: number;
}

type AnyNative = zmq.Socket & NativeSocket;

/**
 * Creates a ZeroMQ transport. Close it when done: it closes its sockets and its ZAP handler.
 *
 * @example
 * const transport = createZmqTransport({ keyDirectory: directory });
 * const pub = transport.createPublisher({ channel: 'readings', security: { mechanism: 'curve', identity } });
 * await pub.bind('tcp://0.0.0.0:5556');
 */
export function createZmqTransport(options: ZmqTransportOptions): Transport {
  return new ZmqTransport(options);
}

class ZmqTransport implements Transport, SocketHost {
  readonly name = 'zeromq';
  readonly #options: ZmqTransportOptions;
  readonly #context = new zmq.Context();
  readonly #registry = new ChannelRegistry();
  readonly #sockets = new Set<SocketCore>();
  /** The CURVE client state of each connecting socket. */
  readonly #clients = new WeakMap<SocketCore, ClientConnections>();
  readonly #retryMs: { first: number; max: number };
  readonly #zapSocket: zmq.Router;
  readonly #zapReady: Promise<void>;
  readonly #zapDone: Promise<void>;
  readonly #keepAlive = new KeepAlive();
  readonly #handshakeFailures: ReturnType<MetricsRegistry['counter']> | undefined;
  #closed = false;

  constructor(options: ZmqTransportOptions) {
    this.#options = options;
    this.#retryMs = { first: options.refusedRetryMs ?? 1000, max: options.refusedRetryMaxMs ?? 30_000 };
    this.#zapSocket = new zmq.Router({ context: this.#context, linger: 0 });
    this.#zapReady = this.#zapSocket.bind(ZAP_ENDPOINT);
    this.#zapReady.catch(() => {});
    const zapCounter = options.metrics?.counter(
      'securecloud_bus_zap_decisions_total',
      'CURVE handshakes decided by the ZAP handler, by channel, result and refusal reason.',
      ['channel', 'result', 'reason'],
    );
    this.#handshakeFailures = options.metrics?.counter(
      'securecloud_bus_handshake_failures_total',
      'Failed security handshakes seen by our sockets, by channel and socket kind.',
      ['channel', 'kind'],
    );
    const zapSocket = this.#zapSocket;
    const socket: ZapSocket = {
      get closed() {
        return zapSocket.closed;
      },
      receive: () => zapSocket.receive(),
      send: (frames) => zapSocket.send(frames),
    };
    const start = () =>
      startZapHandler({
        socket,
        directory: options.keyDirectory,
        peerRoles: (domain) => this.#registry.peerRoles(domain),
        ...(options.logger ? { logger: options.logger } : {}),
        onDecision: (d) => {
          zapCounter?.inc({
            channel: d.domain.slice(0, 64),
            result: d.admitted ? 'admitted' : 'refused',
            reason: d.reason ?? 'none',
          });
          options.onZapDecision?.(d);
        },
      }).done;
    // zeromq.js refuses a receive while the bind is in progress: start the loop once bound.
    this.#zapDone = this.#zapReady.then(start, (err) => {
      options.logger?.log('error', 'bus ZAP handler could not bind', { error: String(err) });
    });
  }

  createPublisher(o: BusSocketOptions) {
    return new BusPublisher(this.#core('publisher', o, new zmq.Publisher(this.#base(o, 'out'))));
  }

  createSubscriber(o: BusSocketOptions) {
    const native = new zmq.Subscriber(this.#base(o, 'in'));
    return new BusSubscriber(this.#core('subscriber', o, native), native);
  }

  createPush(o: BusSocketOptions) {
    return new BusPush(this.#core('push', o, new zmq.Push(this.#base(o, 'out'))));
  }

  createPull(o: BusSocketOptions) {
    return new BusPull(this.#core('pull', o, new zmq.Pull(this.#base(o, 'in'))));
  }

  createRequest(o: RequestSocketOptions) {
    const native = new zmq.Request({ ...this.#base(o), relaxed: true, correlate: true });
    return new BusRequest(this.#core('request', o, native), o.requestTimeoutMs);
  }

  createReply(o: BusSocketOptions) {
    return new BusReply(this.#core('reply', o, new zmq.Router({ ...this.#base(o), mandatory: true })));
  }

  createDealer(o: DealerSocketOptions) {
    const native = new zmq.Dealer({ ...this.#base(o), ...(o.routingId ? { routingId: o.routingId } : {}) });
    return new BusDealer(this.#core('dealer', o, native));
  }

  createRouter(o: BusSocketOptions) {
    return new BusRouter(this.#core('router', o, new zmq.Router({ ...this.#base(o), mandatory: true })));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#sockets].map((s) => s.close()));
    this.#zapSocket.close();
    await this.#zapDone;
    this.#keepAlive.stop();
  }

  async prepareBind(core: SocketCore): Promise<() => void> {
    const native = core.native as AnyNative;
    const security = core.options.security;
    if (security.mechanism === 'curve') {
      await this.#zapReady;
      native.curveServer = true;
      security.identity.useSecretKey((secretKey) => {
        native.curveSecretKey = secretKey;
      });
      native.curvePublicKey = security.identity.publicKey;
      native.zapDomain = core.channel;
      native.zapEnforceDomain = true;
    }
    return this.#registry.register(core.channel, core.kind);
  }

  async prepareConnect(core: SocketCore, endpoint: string, options: ConnectOptions): Promise<void> {
    const native = core.native as AnyNative;
    const security = core.options.security;
    if (security.mechanism !== 'curve') return;
    const serverKey = options.serverKey;
    if (!isCurveKey(serverKey))
      throw new TypeError("connecting with CURVE needs the server's Z85 public key (options.serverKey)");
    const entry = await this.#options.keyDirectory.find(core.channel, serverKey);
    const admission = admit(entry, new Set([peerRoleOf(core.kind)]));
    if (!admission.admitted) {
      throw new BusError(
        'ERR_BUS_PEER_UNKNOWN',
        `the server key is not admitted on channel "${core.channel}" as a ${peerRoleOf(core.kind)} (${admission.reason})`,
        { detail: { channel: core.channel, reason: admission.reason, serverKey } },
      );
    }
    const client = this.#clients.get(core);
    if (client === undefined) {
      security.identity.useSecretKey((secretKey) => {
        native.curveSecretKey = secretKey;
      });
      native.curvePublicKey = security.identity.publicKey;
      native.curveServerKey = serverKey;
      this.#clients.set(core, new ClientConnections(serverKey, this.#retryMs));
    } else {
      client.pin(native, serverKey);
    }
    this.#clients.get(core)!.endpoints.set(endpoint, serverKey);
  }

  disconnected(core: SocketCore, endpoint: string): void {
    this.#clients.get(core)?.forget(endpoint);
  }

  busy<T>(work: Promise<T>): Promise<T> {
    this.#keepAlive.start();
    return work.finally(() => this.#keepAlive.end());
  }

  forget(core: SocketCore): void {
    this.#sockets.delete(core);
    this.#clients.get(core)?.stop();
  }

  #base(o: BusSocketOptions, direction: 'in' | 'out' | 'both' = 'both') {
    if (this.#closed) throw new BusError('ERR_BUS_CLOSED', 'the bus transport is closed');
    if (o.security?.mechanism === 'null' && !this.#options.allowNullMechanism) {
      throw new BusError(
        'ERR_BUS_NULL_REFUSED',
        `the NULL mechanism (no encryption, no authentication) was asked for on channel "${o.channel}"; it exists for benchmarks only`,
        { detail: { channel: o.channel } },
      );
    }
    if (o.security?.mechanism !== 'curve' && o.security?.mechanism !== 'null')
      throw new TypeError('security must be { mechanism: "curve", identity } (or "null" for benchmarks)');
    const maxFrame = o.maxFrameBytes ?? BUS_DEFAULTS.maxFrameBytes;
    // Publisher and push sockets have no receive queue, subscriber and pull sockets no send queue.
    const sends = direction !== 'in';
    const receives = direction !== 'out';
    return {
      context: this.#context,
      linger: o.lingerMs ?? BUS_DEFAULTS.lingerMs,
      ...(sends ? { sendHighWaterMark: o.sendHighWaterMark ?? BUS_DEFAULTS.highWaterMark } : {}),
      ...(receives ? { receiveHighWaterMark: o.receiveHighWaterMark ?? BUS_DEFAULTS.highWaterMark } : {}),
      maxMessageSize: maxFrame,
      reconnectInterval: this.#options.reconnectIntervalMs ?? 100,
      reconnectMaxInterval: this.#options.reconnectIntervalMaxMs ?? 5000,
      handshakeInterval: this.#options.handshakeTimeoutMs ?? 10_000,
    };
  }

  #core(kind: BusSocketKind, o: BusSocketOptions, native: zmq.Socket): SocketCore {
    const core = new SocketCore(kind, o, native as AnyNative, this);
    this.#sockets.add(core);
    // Connecting CURVE sockets always need events: they retry after a refused handshake.
    this.#observe(core, native);
    return core;
  }

  #observe(core: SocketCore, native: zmq.Socket): void {
    const emit = (event: BusSocketEvent) => {
      try {
        core.options.onEvent?.(event);
      } catch {
        // a listener must not break the socket
      }
    };
    const events = retryInterrupted(() => native.events);
    events.on('bind', (e) => emit({ type: 'listening', endpoint: e.address }));
    events.on('accept', (e) => emit({ type: 'accepted', endpoint: e.address }));
    events.on('connect', (e) => emit({ type: 'connected', endpoint: e.address }));
    events.on('disconnect', (e) => emit({ type: 'disconnected', endpoint: e.address }));
    events.on('handshake', (e) => {
      this.#clients.get(core)?.succeeded(e.address);
      emit({ type: 'handshake', endpoint: e.address });
    });
    const failed = (endpoint: string, reason: string) => {
      this.#handshakeFailures?.inc({ channel: core.channel, kind: core.kind });
      this.#options.logger?.log('warn', 'bus handshake failed', {
        channel: core.channel,
        kind: core.kind,
        endpoint,
        reason,
      });
      emit({ type: 'handshake-failed', endpoint, reason });
    };
    events.on('handshake:error:auth', (e) => {
      failed(e.address, `refused by the peer (ZAP ${e.error.status})`);
      if (!core.closed) this.#clients.get(core)?.retry(native as AnyNative, e.address);
    });
    events.on('handshake:error:protocol', (e) => failed(e.address, e.error.code));
    events.on('handshake:error:other', (e) => failed(e.address, e.error.message));
  }
}

/**
 * zeromq.js does not keep the event loop alive for a pending receive; a service whose only work is
 * waiting for bus messages would exit. One timer is referenced while any operation is pending
 * (ref/unref is cheap; creating a timer per send is not).
 */
class KeepAlive {
  #pending = 0;
  readonly #timer = setInterval(() => {}, 1 << 30).unref();

  start(): void {
    if (this.#pending++ === 0) this.#timer.ref();
  }

  end(): void {
    if (--this.#pending === 0) this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Runs a native call again when a signal interrupted it (EINTR): libzmq's socket monitor setup is a
 * system call that a signal can interrupt (a profiler's SIGPROF did, at start-up). Other errors, or
 * EINTR ten times running, are thrown.
 */
export function retryInterrupted<T>(call: () => T): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return call();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINTR' || attempt >= 10) throw e;
    }
  }
}
