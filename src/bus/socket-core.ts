/**
 * What every bus socket does the same way, over the slice of a ZeroMQ socket that we use
 * ({@link NativeSocket}): serialized sends with a per-call deadline, receives that a timeout or an
 * abort does not lose (the native receive stays pending for the next caller), bind-or-connect with
 * CURVE roles, and graceful close. Only `zmq-adapter.ts` knows the zeromq package.
 */
import { assertChannelName } from './channel-policy.ts';
import { BusError, isBusError } from './errors.ts';
import {
  BUS_DEFAULTS,
  type BusSocketKind,
  type BusSocketOptions,
  type ConnectOptions,
  type Frames,
  type ReceiveOptions,
  type SendOptions,
} from './transport.ts';

/** The part of a zeromq.js socket the core drives (declared here; implemented by zeromq). */
export interface NativeSocket {
  bind(endpoint: string): Promise<void>;
  connect(endpoint: string): void;
  disconnect(endpoint: string): void;
  close(): void;
  readonly lastEndpoint: string | null;
  sendTimeout: number;
  send?(frames: Uint8Array[]): Promise<void>;
  receive?(): Promise<Uint8Array[]>;
}

/** What the adapter does for the core: security set-up on first bind/connect, pending-work accounting. */
export interface SocketHost {
  /** Configures CURVE server options and registers the channel's peer role; returns the unregister function. */
  prepareBind(core: SocketCore): Promise<() => void>;
  /** Checks the server key against the directory and configures the CURVE client options. */
  prepareConnect(core: SocketCore, endpoint: string, options: ConnectOptions): Promise<void>;
  /** The socket no longer wants `endpoint` (stop retrying it). */
  disconnected(core: SocketCore, endpoint: string): void;
  /** Counts pending operations (the transport keeps the process alive while any is pending). */
  busy<T>(work: Promise<T>): Promise<T>;
  /** Forgets a closed socket. */
  forget(core: SocketCore): void;
}

/** Generic socket state and operations; kinds wrap it. */
export class SocketCore {
  readonly kind: BusSocketKind;
  readonly channel: string;
  readonly options: BusSocketOptions;
  readonly native: NativeSocket;
  readonly #host: SocketHost;
  #mode: 'none' | 'bind' | 'connect' = 'none';
  #closed = false;
  #unregister: (() => void) | undefined;
  #sendChain: Promise<unknown> = Promise.resolve();
  #pendingReceive: Promise<Uint8Array[]> | undefined;
  #receiving = false;
  /** Rejecters of the operations in flight, called on close (one Set, not a listener per operation). */
  readonly #inFlight = new Set<(err: BusError) => void>();

  constructor(kind: BusSocketKind, options: BusSocketOptions, native: NativeSocket, host: SocketHost) {
    assertChannelName(options.channel);
    this.kind = kind;
    this.channel = options.channel;
    this.options = options;
    this.native = native;
    this.#host = host;
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Settles with `work`, or rejects when `signal` aborts (ERR_BUS_ABORTED) or the socket closes. */
  #guard<T>(work: Promise<T>, signal: AbortSignal | undefined, operation: string): Promise<T> {
    if (signal?.aborted) return Promise.reject(aborted(operation));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(aborted(operation));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#inFlight.add(reject);
      work.then(resolve, reject).finally(() => {
        signal?.removeEventListener('abort', onAbort);
        this.#inFlight.delete(reject);
      });
    });
  }

  async bind(endpoint: string): Promise<string> {
    this.#assertOpen();
    if (this.#mode === 'connect') throw new TypeError('a bus socket either binds or connects, not both');
    this.#mode = 'bind';
    this.#unregister ??= await this.#host.prepareBind(this);
    this.#assertOpen();
    try {
      await this.native.bind(endpoint);
    } catch (err) {
      throw new BusError('ERR_BUS_BIND', `cannot bind ${endpoint} on channel "${this.channel}"`, {
        cause: err,
        detail: { endpoint, channel: this.channel },
      });
    }
    return this.native.lastEndpoint ?? endpoint;
  }

  async connect(endpoint: string, options: ConnectOptions = {}): Promise<void> {
    this.#assertOpen();
    if (this.#mode === 'bind') throw new TypeError('a bus socket either binds or connects, not both');
    this.#mode = 'connect';
    await this.#host.prepareConnect(this, endpoint, options);
    this.#assertOpen();
    try {
      this.native.connect(endpoint);
    } catch (err) {
      throw new BusError('ERR_BUS_BIND', `cannot connect to ${endpoint} on channel "${this.channel}"`, {
        cause: err,
        detail: { endpoint, channel: this.channel },
      });
    }
  }

  disconnect(endpoint: string): void {
    this.#assertOpen();
    this.#host.disconnected(this, endpoint);
    try {
      this.native.disconnect(endpoint);
    } catch (err) {
      throw new BusError('ERR_BUS_SOCKET', `cannot disconnect from ${endpoint}`, { cause: err });
    }
  }

  /** Queues `frames` after earlier sends; waits for queue space until the deadline. */
  async send(frames: Frames, options: SendOptions = {}): Promise<void> {
    this.#assertOpen();
    assertFrames(frames);
    const timeoutMs = options.timeoutMs ?? this.options.sendTimeoutMs ?? BUS_DEFAULTS.sendTimeoutMs;
    const deadline = timeoutMs < 0 ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
    const signal = options.signal;
    const run = async () => {
      this.#assertOpen();
      if (signal?.aborted) throw aborted('send');
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timedOut('send', timeoutMs, this.channel);
      this.native.sendTimeout = Number.isFinite(remaining) ? Math.ceil(remaining) : -1;
      try {
        await this.native.send!(frames as Uint8Array[]);
      } catch (err) {
        throw this.#mapError(err, 'send', timeoutMs);
      }
    };
    const result = this.#sendChain.then(run, run);
    this.#sendChain = result.catch(() => {});
    return this.#host.busy(this.#guard(result, signal, 'send'));
  }

  /**
   * The next message. A timeout or abort leaves the native receive pending for the next call, so no
   * message is lost. zeromq.js sometimes rejects a pending receive with EAGAIN (a REQ socket dropping
   * a stale reply); that is retried until the deadline.
   */
  async receive(options: ReceiveOptions = {}): Promise<Uint8Array[]> {
    this.#assertOpen();
    if (this.#receiving) throw new TypeError('only one receive() or iterator may be pending on a bus socket');
    this.#receiving = true;
    const timeout = withTimeout(options.timeoutMs, this.channel);
    try {
      for (;;) {
        try {
          const frames = await this.#host.busy(
            this.#guard(Promise.race([this.#nativeReceive(), timeout.promise]), options.signal, 'receive'),
          );
          this.#pendingReceive = undefined;
          return frames;
        } catch (err) {
          if (isBusError(err, 'ERR_BUS_TIMEOUT') || isBusError(err, 'ERR_BUS_ABORTED')) throw err;
          this.#pendingReceive = undefined;
          if (this.#closed) throw closedError(this.channel);
          if ((err as { code?: unknown } | null)?.code === 'EAGAIN') continue;
          throw this.#mapError(err, 'receive', options.timeoutMs);
        }
      }
    } finally {
      timeout.cancel();
      this.#receiving = false;
    }
  }

  #nativeReceive(): Promise<Uint8Array[]> {
    if (this.#pendingReceive === undefined) {
      const pending = this.native.receive!();
      pending.catch(() => {});
      this.#pendingReceive = pending;
    }
    return this.#pendingReceive;
  }

  /** Receives until the socket closes. */
  async *messages(): AsyncGenerator<Uint8Array[]> {
    while (!this.#closed) {
      try {
        yield await this.receive();
      } catch (err) {
        if (isBusError(err, 'ERR_BUS_CLOSED')) return;
        throw err;
      }
    }
  }

  /** Lets in-flight sends finish (up to `lingerMs`), then closes; libzmq flushes for `lingerMs` more. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const lingerMs = this.options.lingerMs ?? BUS_DEFAULTS.lingerMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#sendChain,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, lingerMs));
      }),
    ]);
    clearTimeout(timer);
    const closing = new BusError('ERR_BUS_CLOSED', `the bus socket on channel "${this.channel}" closed`);
    for (const reject of this.#inFlight) reject(closing);
    this.#unregister?.();
    this.native.close();
    this.#host.forget(this);
    this.options.onEvent?.({ type: 'closed' });
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(this.channel);
  }

  #mapError(err: unknown, operation: string, timeoutMs: number | undefined): BusError {
    if (isBusError(err)) return err;
    if (this.#closed) return closedError(this.channel);
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'EAGAIN') return timedOut(operation, timeoutMs ?? 0, this.channel);
    if (code === 'EHOSTUNREACH') {
      return new BusError('ERR_BUS_UNROUTABLE', `no peer with that routing id on channel "${this.channel}"`, {
        cause: err,
        detail: { channel: this.channel },
      });
    }
    return new BusError('ERR_BUS_SOCKET', `${operation} failed on channel "${this.channel}"`, {
      cause: err,
      detail: { channel: this.channel, operation },
    });
  }
}

/** TypeError unless `frames` is a non-empty array of Uint8Array. */
export function assertFrames(frames: Frames): void {
  if (!Array.isArray(frames) || frames.length === 0 || !frames.every((f) => f instanceof Uint8Array))
    throw new TypeError('a bus message is a non-empty array of Uint8Array frames');
}

function closedError(channel: string): BusError {
  return new BusError('ERR_BUS_CLOSED', `the bus socket on channel "${channel}" is closed`, {
    detail: { channel },
  });
}

function aborted(operation: string): BusError {
  return new BusError('ERR_BUS_ABORTED', `${operation} aborted`, { detail: { operation } });
}

function timedOut(operation: string, timeoutMs: number, channel: string): BusError {
  return new BusError(
    'ERR_BUS_TIMEOUT',
    `${operation} on channel "${channel}" timed out after ${timeoutMs} ms`,
    {
      detail: { operation, timeoutMs, channel },
    },
  );
}

/** A promise that rejects with ERR_BUS_TIMEOUT after `timeoutMs` (never, when undefined or negative). */
export function withTimeout(
  timeoutMs: number | undefined,
  channel: string,
  operation = 'receive',
): { promise: Promise<never>; cancel(): void } {
  if (timeoutMs === undefined || timeoutMs < 0) return { promise: new Promise<never>(() => {}), cancel() {} };
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(operation, timeoutMs, channel)), timeoutMs);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
