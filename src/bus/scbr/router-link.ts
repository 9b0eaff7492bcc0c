/**
 * A client's link to the router: a DEALER socket, the verified router key, the session sealed to
 * it, and correlated requests. A HELLO fetches the router's signed key announcement; when the router
 * says a message was sealed to another key (it restarted) or the announcement expires, the link
 * says HELLO again and reports the new session (subscribers then subscribe again). When the router
 * stops answering HELLO, the link looks its CURVE key up again (a restarted router has a new one)
 * and reconnects.
 */
import { isBusError } from '../errors.ts';
import type { BusIdentity, DealerSocket, Frames, Transport } from '../transport.ts';
import type { BusLogger } from '../zap.ts';
import { ClientSession } from './envelope.ts';
import { isScbrError, ScbrError } from './errors.ts';
import { verifyRouterAnnouncement } from './router-key.ts';
import { jsonBytes, KIND, kindOf, plainFrame, readJson, readReply, type ScbrReply } from './wire.ts';

/** Options shared by publishers and subscribers. Times are milliseconds. */
export interface RouterLinkOptions {
  readonly transport: Transport;
  /** This service's CURVE identity. */
  readonly identity: BusIdentity;
  /** The router endpoint for this role (publish or subscribe). */
  readonly endpoint: string;
  /**
   * The router's Z85 CURVE public key, or a function that looks it up (e.g. with
   * `keyDirectory.keysOf(channel, 'scbr-router', 'replier')`), called again when the router stops answering.
   */
  readonly serverKey: string | (() => Promise<string>);
  /** PEM of the CAS root that issued the router's certificate (`service.caCertificatePem`). */
  readonly casRootPem: string;
  /** The router's service name in the CAS policy (default `scbr-router`). */
  readonly routerService?: string;
  /** How long to wait for the router key at start-up and after a restart (default 10,000). */
  readonly connectTimeoutMs?: number;
  /** Deadline of a request (default 5000). */
  readonly requestTimeoutMs?: number;
  /** Outgoing queue bound (default 1000 messages): `publish` waits when it is full. */
  readonly sendHighWaterMark?: number;
  readonly logger?: BusLogger;
  readonly now?: () => number;
  /** Aborting closes the publisher or subscriber. */
  readonly signal?: AbortSignal;
}

/** What the link reports to its owner. */
export interface RouterLinkEvents {
  onDeliver?(payload: Uint8Array): void;
  /** A new session after the first (the router restarted or the key was renewed). */
  onNewSession?(): void;
  onError?(err: Error): void;
}

const HELLO = plainFrame(KIND.hello);

interface Pending {
  resolve(reply: ScbrReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** The link; create with {@link RouterLink.open}. */
export class RouterLink {
  readonly #o: RouterLinkOptions;
  readonly #events: RouterLinkEvents;
  readonly #socket: DealerSocket;
  readonly #now: () => number;
  readonly #pending = new Map<number, Pending>();
  #serverKey = '';
  #session: ClientSession | undefined;
  #hello: Promise<ClientSession> | undefined;
  #announcement: ((bytes: Uint8Array) => void) | undefined;
  #sessions = 0;
  #n = 0;
  #loop: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(o: RouterLinkOptions, channel: string, events: RouterLinkEvents) {
    this.#o = o;
    this.#events = events;
    this.#now = o.now ?? Date.now;
    this.#socket = o.transport.createDealer({
      channel,
      security: { mechanism: 'curve', identity: o.identity },
      ...(o.sendHighWaterMark === undefined ? {} : { sendHighWaterMark: o.sendHighWaterMark }),
    });
    o.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Connects and fetches the router key. Throws `ERR_SCBR_TIMEOUT` or `ERR_SCBR_ROUTER_KEY`. */
  static async open(
    o: RouterLinkOptions,
    channel: string,
    events: RouterLinkEvents = {},
  ): Promise<RouterLink> {
    const link = new RouterLink(o, channel, events);
    try {
      await link.#connect();
      link.#loop = link.#receive();
      await link.session();
    } catch (err) {
      await link.close();
      throw err;
    }
    return link;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The current session, after a HELLO when there is none or its announcement expired. */
  session(): Promise<ClientSession> {
    if (this.#closed) return Promise.reject(new ScbrError('ERR_SCBR_CLOSED', 'the router link is closed'));
    const current = this.#session;
    if (current !== undefined && current.router.expiresAt > this.#now()) return Promise.resolve(current);
    this.#hello ??= this.#sayHello().finally(() => {
      this.#hello = undefined;
    });
    return this.#hello;
  }

  /** Forgets the session: the next operation says HELLO (and looks the router key up) again. */
  reset(): void {
    this.#session?.destroy();
    this.#session = undefined;
  }

  /** Sends raw frames (a publication). */
  send(frames: Frames, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return this.#socket.send(frames, options);
  }

  /**
   * Sends a sealed request and waits for its reply. A request the router could not open because it
   * restarted with a new key is sent once more, sealed to the new key.
   */
  async request(
    kind: number,
    body: Record<string, unknown>,
    options: { timeoutMs?: number } = {},
  ): Promise<ScbrReply> {
    try {
      return await this.#requestOnce(kind, body, options);
    } catch (err) {
      if (!isScbrError(err, 'ERR_SCBR_ROUTER_KEY')) throw err;
      return this.#requestOnce(kind, body, options);
    }
  }

  async #requestOnce(
    kind: number,
    body: Record<string, unknown>,
    options: { timeoutMs?: number },
  ): Promise<ScbrReply> {
    const session = await this.session();
    const n = this.#n++;
    const timeoutMs = options.timeoutMs ?? this.#o.requestTimeoutMs ?? 5000;
    const reply = new Promise<ScbrReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(n);
        reject(
          new ScbrError('ERR_SCBR_TIMEOUT', `the router did not answer within ${timeoutMs} ms`, {
            detail: { timeoutMs },
          }),
        );
      }, timeoutMs);
      this.#pending.set(n, { resolve, reject, timer });
    });
    try {
      await this.#socket.send([session.seal(kind, jsonBytes({ ...body, n }))], { timeoutMs });
    } catch (err) {
      this.#settle(n)?.reject(err as Error);
    }
    return reply;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectAll(new ScbrError('ERR_SCBR_CLOSED', 'the router link closed'));
    this.#announcement?.(new Uint8Array(0));
    await this.#socket.close();
    await this.#loop;
    this.reset();
  }

  async #connect(): Promise<void> {
    const key = typeof this.#o.serverKey === 'string' ? this.#o.serverKey : await this.#o.serverKey();
    if (key === this.#serverKey) return;
    if (this.#serverKey !== '') this.#socket.disconnect(this.#o.endpoint);
    this.#serverKey = key;
    await this.#socket.connect(this.#o.endpoint, { serverKey: key });
  }

  async #sayHello(): Promise<ClientSession> {
    const total = this.#o.connectTimeoutMs ?? 10_000;
    const deadline = performance.now() + total;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed) break;
      const bytes = await this.#askKey(Math.min(left, 500 * 2 ** attempt));
      if (bytes !== undefined) return this.#adopt(bytes);
      if (typeof this.#o.serverKey !== 'string') await this.#connect();
    }
    if (this.#closed) throw new ScbrError('ERR_SCBR_CLOSED', 'the router link closed');
    throw new ScbrError(
      'ERR_SCBR_TIMEOUT',
      `the router at ${this.#o.endpoint} did not send its key within ${total} ms`,
      {
        detail: { timeoutMs: total },
      },
    );
  }

  /** Sends HELLO and waits up to `ms` for the announcement. */
  async #askKey(ms: number): Promise<Uint8Array | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<Uint8Array | undefined>((resolve) => {
      this.#announcement = resolve;
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      await this.#socket.send([HELLO], { timeoutMs: Math.ceil(ms) });
    } catch (err) {
      if (!isBusError(err, 'ERR_BUS_TIMEOUT')) throw err;
    }
    const bytes = await answer;
    clearTimeout(timer);
    this.#announcement = undefined;
    return bytes !== undefined && bytes.length > 0 ? bytes : undefined;
  }

  #adopt(bytes: Uint8Array): ClientSession {
    const verified = verifyRouterAnnouncement(bytes, {
      casRootPem: this.#o.casRootPem,
      now: this.#now(),
      ...(this.#o.routerService === undefined ? {} : { routerService: this.#o.routerService }),
    });
    this.reset();
    const session = new ClientSession(verified);
    this.#session = session;
    if (verified.simulation)
      this.#o.logger?.log('warn', 'SIMULATION: the SCBR router runs without a TEE', {});
    if (this.#sessions++ > 0) queueMicrotask(() => this.#events.onNewSession?.());
    return session;
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#socket) {
        try {
          this.#dispatch(frames);
        } catch (err) {
          this.#events.onError?.(err as Error);
        }
      }
    } catch (err) {
      if (!this.#closed) this.#events.onError?.(err as Error);
    }
  }

  #dispatch(frames: Uint8Array[]): void {
    const [head, body] = frames;
    switch (kindOf(head)) {
      case KIND.deliver:
        if (body !== undefined) this.#events.onDeliver?.(body);
        return;
      case KIND.routerKey:
        this.#announcement?.((head as Uint8Array).subarray(2));
        return;
      case KIND.reply: {
        const session = this.#session;
        if (session === undefined) return;
        const reply = readReply(session.open(head as Uint8Array).plaintext);
        this.#settle(reply.n)?.resolve(reply);
        return;
      }
      case KIND.error:
        this.#onRouterError(readJson((head as Uint8Array).subarray(2), 'router error'));
        return;
      default:
        throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'unknown message from the router');
    }
  }

  #onRouterError(body: Record<string, unknown>): void {
    const code = typeof body.code === 'string' ? body.code : 'unknown';
    const message = typeof body.message === 'string' ? body.message.slice(0, 500) : '';
    if (code === 'ERR_SCBR_ROUTER_KEY') {
      // The router restarted with a new key: a session sealed to the old one is void. Errors about
      // messages sent before we already switched are ignored.
      const stale =
        this.#session === undefined ? undefined : Buffer.from(this.#session.router.keyId).toString('hex');
      if (stale !== undefined && body.keyId !== stale) return;
      this.reset();
      this.#rejectAll(
        new ScbrError('ERR_SCBR_ROUTER_KEY', 'the router key changed; the request was not processed'),
      );
      this.session().catch((err) => this.#events.onError?.(err as Error));
      return;
    }
    this.#events.onError?.(
      new ScbrError('ERR_SCBR_SUBSCRIPTION', `the router refused a message: ${code}: ${message}`, {
        detail: { code },
      }),
    );
  }

  #settle(n: number): Pending | undefined {
    const pending = this.#pending.get(n);
    if (pending === undefined) return undefined;
    this.#pending.delete(n);
    clearTimeout(pending.timer);
    return pending;
  }

  #rejectAll(err: Error): void {
    for (const n of [...this.#pending.keys()]) this.#settle(n)?.reject(err);
  }
}
