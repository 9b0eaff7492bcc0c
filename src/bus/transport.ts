/**
 * The bus transport plugin point. Services and the SCBR router talk through these interfaces; the
 * ZeroMQ adapter (`zmq-adapter.ts`) is the production implementation. Every socket belongs to one
 * channel (the ZAP domain): a CURVE server socket (one that binds) admits only the keys that the
 * channel's {@link KeyDirectoryView} lists with the role its peers need ({@link SOCKET_ROLES}), and a
 * CURVE client (one that connects) pins the server's key, which must be listed there too.
 *
 * Messages are multipart: `readonly Uint8Array[]` frames. Queues are bounded by high-water marks
 * (counted in messages, per peer): a publisher drops for a subscriber whose queue is full, every
 * other sender waits (`send` resolves once the message is queued), up to its send timeout.
 */

/** A multipart message. Frames received are owned by the receiver. */
export type Frames = readonly Uint8Array[];

/**
 * Roles a service can have on a channel (what the CAS policy grants). A socket's own role follows
 * from its kind: publisher and push sockets are `publisher`s, subscriber and pull sockets
 * `subscriber`s, request and dealer sockets `requester`s, reply and router sockets `replier`s.
 */
export type ChannelRole = 'publisher' | 'subscriber' | 'requester' | 'replier';

/** The role a socket of each kind plays, and the role its peers must have. */
export const SOCKET_ROLES = {
  publisher: { own: 'publisher', peer: 'subscriber' },
  push: { own: 'publisher', peer: 'subscriber' },
  subscriber: { own: 'subscriber', peer: 'publisher' },
  pull: { own: 'subscriber', peer: 'publisher' },
  request: { own: 'requester', peer: 'replier' },
  dealer: { own: 'requester', peer: 'replier' },
  reply: { own: 'replier', peer: 'requester' },
  router: { own: 'replier', peer: 'requester' },
} as const satisfies Record<BusSocketKind, { own: ChannelRole; peer: ChannelRole }>;

/** The CAS-issued credential that the CURVE key is bound to. */
export interface BusCredential {
  /** PEM of the service certificate issued by the CAS. */
  readonly certificatePem: string;
  /** `securecloud://service/NAME/instance/ID`. */
  readonly serviceUri: string;
  readonly instanceId: string;
  /** True when attested on the SIMULATION backend: nothing is protected. */
  readonly simulation: boolean;
}

/**
 * A service's bus identity: a CURVE key pair made at start-up, whose public key the CAS recorded
 * against the attested instance. The secret key lives in a private field of the implementation; only
 * transport adapters read it, through {@link BusIdentity.useSecretKey}.
 */
export interface BusIdentity {
  /** The service name from the CAS policy. */
  readonly service: string;
  /** Z85 (40 characters) CURVE public key. */
  readonly publicKey: string;
  readonly credential: BusCredential;
  /**
   * Calls `use` with the Z85 secret key and returns its result. For transport adapters only: do not
   * keep, log or send the value. Throws `ERR_BUS_CLOSED` after {@link BusIdentity.destroy}.
   */
  useSecretKey<T>(use: (secretKeyZ85: string) => T): T;
  /** Forgets the secret key. Idempotent. */
  destroy(): void;
}

/**
 * The slice of a key directory a transport needs: which CURVE public keys are admitted on a channel.
 * `key-directory.ts` implements it (CAS-backed and static).
 */
export interface KeyDirectoryView {
  /**
   * The admitted entry for `publicKey` (Z85) on `channel`, or undefined (refuse). A CAS-backed
   * directory refreshes on a miss (rate-limited), so a freshly attested peer is admitted on its retry.
   */
  find(channel: string, publicKey: string): Promise<AdmittedKey | undefined>;
}

/** One admitted key of a channel, as the CAS returns it. */
export interface AdmittedKey {
  /** Z85 CURVE public key. */
  readonly publicKey: string;
  readonly service: string;
  readonly instanceId: string;
  readonly roles: readonly ChannelRole[];
}

/**
 * Socket security. CURVE is the only mechanism for services; NULL exists for benchmarks and is refused
 * (`ERR_BUS_NULL_REFUSED`) unless the transport was created with `allowNullMechanism: true`.
 */
export type BusSecurity =
  | { readonly mechanism: 'curve'; readonly identity: BusIdentity }
  | { readonly mechanism: 'null' };

/** Options every socket takes. Counts are messages; times are milliseconds. */
export interface BusSocketOptions {
  /** The channel name: the ZAP domain and the key directory's channel. */
  readonly channel: string;
  readonly security: BusSecurity;
  /** Outgoing queue bound per peer (default 1000). */
  readonly sendHighWaterMark?: number;
  /** Incoming queue bound per peer (default 1000). */
  readonly receiveHighWaterMark?: number;
  /** How long `send` waits for queue space before `ERR_BUS_TIMEOUT` (default 5000; -1: forever). */
  readonly sendTimeoutMs?: number;
  /** How long `close()` lets queued outgoing messages drain (default 1000). */
  readonly lingerMs?: number;
  /** Inbound frames larger than this make libzmq drop the connection (default 1 MiB; -1: no limit). */
  readonly maxFrameBytes?: number;
  /** Aborting closes the socket. */
  readonly signal?: AbortSignal;
  /** Called for connection life-cycle events (for logs, metrics and tests). Must not throw. */
  readonly onEvent?: (event: BusSocketEvent) => void;
}

/** Connection life-cycle events of a socket. `reason` never contains key material. */
export type BusSocketEvent =
  | { readonly type: 'listening' | 'accepted' | 'connected' | 'disconnected'; readonly endpoint: string }
  | { readonly type: 'handshake'; readonly endpoint: string }
  | { readonly type: 'handshake-failed'; readonly endpoint: string; readonly reason: string }
  | { readonly type: 'closed' };

export interface SendOptions {
  readonly signal?: AbortSignal;
  /** Overrides the socket's `sendTimeoutMs` for this call. */
  readonly timeoutMs?: number;
}

export interface ReceiveOptions {
  readonly signal?: AbortSignal;
  /** Rejects with `ERR_BUS_TIMEOUT` after this long (default: wait until a message or close). */
  readonly timeoutMs?: number;
}

/** How a connecting (CURVE client) socket authenticates the peer it connects to. */
export interface ConnectOptions {
  /**
   * The server's Z85 public key. Required with CURVE: look it up in the key directory. `connect`
   * throws `ERR_BUS_PEER_UNKNOWN` when the directory does not list it on the channel with the role
   * this socket's peers need. A server that restarts with a new key needs a new `connect`.
   */
  readonly serverKey?: string;
}

/** Operations common to every socket. */
export interface BusSocket {
  readonly kind: BusSocketKind;
  readonly channel: string;
  readonly closed: boolean;
  /** Binds (this side becomes the CURVE server); resolves with the bound endpoint (port 0 resolved). */
  bind(endpoint: string): Promise<string>;
  /**
   * Connects (this side is a CURVE client) after checking `serverKey` against the key directory;
   * reconnection after a peer restarts (with the same key) is automatic.
   */
  connect(endpoint: string, options?: ConnectOptions): Promise<void>;
  disconnect(endpoint: string): void;
  /** Lets queued messages drain up to `lingerMs`, ends iterators, rejects pending calls with ERR_BUS_CLOSED. */
  close(): Promise<void>;
}

export type BusSocketKind =
  | 'publisher'
  | 'subscriber'
  | 'request'
  | 'reply'
  | 'push'
  | 'pull'
  | 'dealer'
  | 'router';

/** Sends multipart messages. Resolves when queued (not when delivered). */
export interface Sender {
  send(frames: Frames, options?: SendOptions): Promise<void>;
}

/**
 * Receives multipart messages. Iterating receives until the socket closes (then the loop ends);
 * only one `receive()` or iterator may be pending at a time.
 */
export interface Receiver extends AsyncIterable<Uint8Array[]> {
  receive(options?: ReceiveOptions): Promise<Uint8Array[]>;
}

/** Pub/sub sender. The first frame is the topic that subscribers match by prefix. Never waits: drops at HWM. */
export interface PublisherSocket extends BusSocket, Sender {}

/** Pub/sub receiver: receives nothing until it subscribes. */
export interface SubscriberSocket extends BusSocket, Receiver {
  /** Subscribes to topics starting with `prefix` (all topics when omitted). */
  subscribe(prefix?: Uint8Array | string): void;
  unsubscribe(prefix?: Uint8Array | string): void;
}

/** Work distribution sender: round-robin to pullers; `send` waits when every peer's queue is full. */
export interface PushSocket extends BusSocket, Sender {}

/** Work distribution receiver: fair-queues from pushers. */
export interface PullSocket extends BusSocket, Receiver {}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Overrides the socket's `requestTimeoutMs` for this call. */
  readonly timeoutMs?: number;
}

/** Synchronous request/reply client. After a timeout the socket is usable again (late replies are dropped). */
export interface RequestSocket extends BusSocket {
  /** Sends `frames` and resolves with the reply; `ERR_BUS_TIMEOUT` when none comes in time. Calls are serialized. */
  request(frames: Frames, options?: RequestOptions): Promise<Uint8Array[]>;
}

export interface RequestSocketOptions extends BusSocketOptions {
  /** Default per-request timeout (default 5000). */
  readonly requestTimeoutMs?: number;
}

/** A request received by a {@link ReplySocket}. */
export interface IncomingRequest {
  readonly frames: Uint8Array[];
  /** Sends the reply. Requests may be answered in any order, each at most once. */
  reply(frames: Frames, options?: SendOptions): Promise<void>;
}

/** Request/reply server: iterate requests and answer each. */
export interface ReplySocket extends BusSocket, AsyncIterable<IncomingRequest> {
  receive(options?: ReceiveOptions): Promise<IncomingRequest>;
}

/** Asynchronous request/reply client: any number of messages in either direction. */
export interface DealerSocket extends BusSocket, Sender, Receiver {}

export interface DealerSocketOptions extends BusSocketOptions {
  /** This peer's routing id as seen by routers (1–255 bytes). Not authenticated: do not authorize on it. */
  readonly routingId?: string;
}

/**
 * Asynchronous request/reply server. Received messages start with the sender's routing id frame;
 * `send` takes the destination routing id as the first frame and rejects with `ERR_BUS_UNROUTABLE`
 * when no such peer is connected.
 */
export interface RouterSocket extends BusSocket, Sender, Receiver {}

/**
 * A bus transport: creates sockets that share one authentication context (one ZAP handler).
 * Passed to services and the SCBR router through their options.
 */
export interface Transport {
  /** The implementation's name, e.g. `zeromq`. */
  readonly name: string;
  createPublisher(options: BusSocketOptions): PublisherSocket;
  createSubscriber(options: BusSocketOptions): SubscriberSocket;
  createPush(options: BusSocketOptions): PushSocket;
  createPull(options: BusSocketOptions): PullSocket;
  createRequest(options: RequestSocketOptions): RequestSocket;
  createReply(options: BusSocketOptions): ReplySocket;
  createDealer(options: DealerSocketOptions): DealerSocket;
  createRouter(options: BusSocketOptions): RouterSocket;
  /** Closes every socket it created, then the authentication handler. Idempotent. */
  close(): Promise<void>;
}

/** Defaults shared by adapters. */
export const BUS_DEFAULTS = {
  highWaterMark: 1000,
  sendTimeoutMs: 5000,
  requestTimeoutMs: 5000,
  lingerMs: 1000,
  maxFrameBytes: 1024 * 1024,
} as const;
