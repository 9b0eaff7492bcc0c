/**
 * The SCBR client library: publishers seal the header to the router and the payload to the group;
 * subscribers seal their filters to the router, open the payloads it forwards, refuse tampered and
 * replayed ones, and check each against their own filters before handing it over.
 */
import { ScbrError } from './errors.ts';
import type { Attributes } from './filter-types.ts';
import { toHeader } from './filter-values.ts';
import { concatBytes, encodeHeader } from './header-codec.ts';
import { GroupKey, PayloadSealer } from './payload-seal.ts';
import { RouterLink, type RouterLinkOptions } from './router-link.ts';
import { DEFAULT_SCBR_SPACE, KIND, SCBR_CHANNELS } from './wire.ts';

export {
  createScbrSubscriber,
  type ScbrMessage,
  type ScbrSubscriber,
  type ScbrSubscriberOptions,
  type ScbrSubscriberStats,
  type ScbrSubscription,
  type SubscribeOptions,
} from './subscriber.ts';

/** Options of {@link createScbrPublisher}. */
export interface ScbrPublisherOptions extends RouterLinkOptions {
  /** The group key: 32 bytes, or the hex field of the CAS `symmetric-key` secret. */
  readonly groupKey: Uint8Array | string;
  /** The channel publishers are admitted on (default `scbr.publish`). */
  readonly channel?: string;
  /** The name payloads are bound to; subscribers must use the same (default `scbr`). */
  readonly space?: string;
  /** Largest payload accepted by `publish` (default 1 MiB − 8 KiB, under the transport's frame limit). */
  readonly maxPayloadBytes?: number;
}

/** Options of {@link ScbrPublisher.publish}. */
export interface PublishOptions {
  readonly signal?: AbortSignal;
  /** How long to wait for queue space (back-pressure) before `ERR_BUS_TIMEOUT`. */
  readonly timeoutMs?: number;
}

/** Publishes to the router. */
export interface ScbrPublisher {
  /** Hex of this publisher's random 16-byte id (what subscribers see as `publisher`). */
  readonly publisherId: string;
  /**
   * Publishes `payload` with the header `attributes`. Resolves when queued to the router (not when
   * delivered); waits while the queue is full. Throws `ERR_SCBR_ATTRIBUTE_INVALID` for a bad header.
   */
  publish(attributes: Attributes, payload: Uint8Array, options?: PublishOptions): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects a publisher to the router's publish endpoint and fetches the router key.
 *
 * @example
 * const pub = await createScbrPublisher({ transport, identity, endpoint: 'tcp://router:7101',
 *   serverKey, casRootPem: service.caCertificatePem, groupKey: service.secret('busGroupKey').hex });
 * await pub.publish({ region: 'north', demand: 7.5, at: new Date() }, reading);
 */
export async function createScbrPublisher(options: ScbrPublisherOptions): Promise<ScbrPublisher> {
  const groupKey = GroupKey.from(options.groupKey);
  const link = await RouterLink.open(options, options.channel ?? SCBR_CHANNELS.publish, {
    onError: (err) => options.logger?.log('warn', 'scbr publisher: router message', { error: err.message }),
  });
  const publisher = new Publisher(
    link,
    new PayloadSealer(groupKey, options.space ?? DEFAULT_SCBR_SPACE),
    options,
  );
  options.signal?.addEventListener('abort', () => void publisher.close(), { once: true });
  return publisher;
}

class Publisher implements ScbrPublisher {
  readonly publisherId: string;
  readonly #link: RouterLink;
  readonly #sealer: PayloadSealer;
  readonly #max: number;
  #seq = 0;
  #closed = false;

  constructor(link: RouterLink, sealer: PayloadSealer, options: ScbrPublisherOptions) {
    this.#link = link;
    this.#sealer = sealer;
    this.#max = options.maxPayloadBytes ?? 1024 * 1024 - 8192;
    this.publisherId = Buffer.from(sealer.publisherId).toString('hex');
  }

  async publish(attributes: Attributes, payload: Uint8Array, options: PublishOptions = {}): Promise<void> {
    if (!(payload instanceof Uint8Array)) throw new TypeError('a payload is a Uint8Array');
    if (payload.length > this.#max) {
      throw new ScbrError(
        'ERR_SCBR_TOO_LARGE',
        `payload of ${payload.length} bytes exceeds the limit of ${this.#max}`,
      );
    }
    const header = toHeader(attributes);
    const session = await this.#link.session();
    const seq = this.#seq++;
    const sealedPayload = this.#sealer.seal(seq, header, payload);
    const seqBytes = new Uint8Array(8);
    new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
    const head = session.seal(
      KIND.publish,
      concatBytes([this.#sealer.publisherId, seqBytes, encodeHeader(header)]),
    );
    await this.#link.send([head, sealedPayload], options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#link.close();
    this.#sealer.destroy();
  }
}
