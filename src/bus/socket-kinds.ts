/**
 * The socket kinds of the {@link Transport} interface, as thin wrappers over {@link SocketCore}.
 * Request/reply is built for robustness: the request side uses ZeroMQ's relaxed, correlated REQ
 * (a timed-out request does not wedge the socket, and a late reply is dropped), and the reply side is
 * a ROUTER underneath, so requests can be answered concurrently and in any order.
 */
import { BusError } from './errors.ts';
import type { SocketCore } from './socket-core.ts';
import {
  BUS_DEFAULTS,
  type BusSocket,
  type BusSocketKind,
  type ConnectOptions,
  type DealerSocket,
  type Frames,
  type IncomingRequest,
  type PublisherSocket,
  type PullSocket,
  type PushSocket,
  type ReceiveOptions,
  type ReplySocket,
  type RequestOptions,
  type RequestSocket,
  type RouterSocket,
  type SendOptions,
  type SubscriberSocket,
} from './transport.ts';

/** Delegates the common operations to the core. */
class BaseSocket implements BusSocket {
  protected readonly core: SocketCore;

  constructor(core: SocketCore) {
    this.core = core;
  }

  get kind(): BusSocketKind {
    return this.core.kind;
  }

  get channel(): string {
    return this.core.channel;
  }

  get closed(): boolean {
    return this.core.closed;
  }

  bind(endpoint: string): Promise<string> {
    return this.core.bind(endpoint);
  }

  connect(endpoint: string, options?: ConnectOptions): Promise<void> {
    return this.core.connect(endpoint, options);
  }

  disconnect(endpoint: string): void {
    this.core.disconnect(endpoint);
  }

  close(): Promise<void> {
    return this.core.close();
  }
}

/** A socket that sends and receives raw multipart messages. */
class DuplexSocket extends BaseSocket {
  send(frames: Frames, options?: SendOptions): Promise<void> {
    return this.core.send(frames, options);
  }

  receive(options?: ReceiveOptions): Promise<Uint8Array[]> {
    return this.core.receive(options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array[]> {
    return this.core.messages();
  }
}

export class BusPublisher extends DuplexSocket implements PublisherSocket {}
export class BusPush extends DuplexSocket implements PushSocket {}
export class BusPull extends DuplexSocket implements PullSocket {}
export class BusDealer extends DuplexSocket implements DealerSocket {}
export class BusRouter extends DuplexSocket implements RouterSocket {}

/** The subscription calls of a native SUB socket. */
export interface NativeSubscriptions {
  subscribe(...prefixes: Array<Uint8Array | string>): void;
  unsubscribe(...prefixes: Array<Uint8Array | string>): void;
}

export class BusSubscriber extends DuplexSocket implements SubscriberSocket {
  readonly #subscriptions: NativeSubscriptions;

  constructor(core: SocketCore, subscriptions: NativeSubscriptions) {
    super(core);
    this.#subscriptions = subscriptions;
  }

  subscribe(prefix: Uint8Array | string = ''): void {
    if (this.closed) throw new BusError('ERR_BUS_CLOSED', 'the subscriber is closed');
    this.#subscriptions.subscribe(prefix);
  }

  unsubscribe(prefix: Uint8Array | string = ''): void {
    if (this.closed) throw new BusError('ERR_BUS_CLOSED', 'the subscriber is closed');
    this.#subscriptions.unsubscribe(prefix);
  }
}

/** Request side: one request at a time, each with a deadline covering send and reply. */
export class BusRequest extends BaseSocket implements RequestSocket {
  readonly #timeoutMs: number;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(core: SocketCore, requestTimeoutMs: number | undefined) {
    super(core);
    this.#timeoutMs = requestTimeoutMs ?? BUS_DEFAULTS.requestTimeoutMs;
  }

  request(frames: Frames, options: RequestOptions = {}): Promise<Uint8Array[]> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const run = async () => {
      const started = performance.now();
      await this.core.send(frames, { timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
      const left = timeoutMs < 0 ? -1 : Math.max(0, timeoutMs - (performance.now() - started));
      try {
        return await this.core.receive({
          timeoutMs: left,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (err) {
        if (err instanceof BusError && err.code === 'ERR_BUS_TIMEOUT') {
          throw new BusError(
            'ERR_BUS_TIMEOUT',
            `no reply on channel "${this.channel}" within ${timeoutMs} ms`,
            {
              detail: { operation: 'request', timeoutMs, channel: this.channel },
            },
          );
        }
        throw err;
      }
    };
    const result = this.#chain.then(run, run);
    this.#chain = result.catch(() => {});
    return result;
  }
}

/** Reply side over a ROUTER: each request carries its envelope, so replies can come in any order. */
export class BusReply extends BaseSocket implements ReplySocket {
  async receive(options: ReceiveOptions = {}): Promise<IncomingRequest> {
    const timeoutMs = options.timeoutMs;
    const deadline = timeoutMs === undefined || timeoutMs < 0 ? undefined : performance.now() + timeoutMs;
    for (;;) {
      const left = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
      const frames = await this.core.receive({
        ...(left === undefined ? {} : { timeoutMs: left }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const request = this.#split(frames);
      if (request !== undefined) return request;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<IncomingRequest> {
    for await (const frames of this.core.messages()) {
      const request = this.#split(frames);
      if (request !== undefined) yield request;
    }
  }

  /** Envelope = routing id(s), REQ correlation id, empty delimiter; a message without one is dropped. */
  #split(frames: Uint8Array[]): IncomingRequest | undefined {
    const delimiter = frames.findIndex((f, i) => i > 0 && f.length === 0);
    if (delimiter < 0 || delimiter === frames.length - 1) return undefined;
    const envelope = frames.slice(0, delimiter + 1);
    let replied = false;
    return {
      frames: frames.slice(delimiter + 1),
      reply: (answer: Frames, options?: SendOptions) => {
        if (replied) return Promise.reject(new TypeError('this request was already answered'));
        replied = true;
        return this.core.send([...envelope, ...answer], options);
      },
    };
  }
}
