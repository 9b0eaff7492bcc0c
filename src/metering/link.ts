/**
 * Meter links: how meters reach an aggregator. Real meters share radio mesh or PLC links; the
 * simulator multiplexes thousands of meters over one TCP connection per aggregator, never one
 * connection per meter. Frames: `length (u32 BE) ‖ pack` where the pack is {@link packMessages}
 * (envelopes up, ingest results down). Hostile peers: frames are bounded, malformed ones close the
 * link with `ERR_LINK`.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { packMessages, unpackMessages } from './framing.ts';
import { MeteringError } from './protocol/index.ts';

/** Largest frame on a link (a pack of about 13,000 envelopes). */
export const MAX_LINK_FRAME = 4 << 20;

/** One end of a link. */
export interface Link {
  /** Remote address, for logs. */
  readonly peer: string;
  /** Sends messages as one frame; resolves when the socket took it (waits while its buffer is full). */
  send(messages: readonly Uint8Array[]): Promise<void>;
  /** Closes the link. */
  close(): void;
  readonly closed: boolean;
}

/** Callbacks of a link. */
export interface LinkHandlers {
  onMessages(link: Link, messages: Buffer[]): void;
  onClose?(link: Link, error?: Error): void;
}

class SocketLink implements Link {
  readonly peer: string;
  #closed = false;
  readonly #socket: Socket;

  constructor(socket: Socket, handlers: LinkHandlers) {
    this.#socket = socket;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let need = 4;
    let frameLength = -1;
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= need) {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        if (frameLength < 0) {
          frameLength = all.readUInt32BE(0);
          if (frameLength === 0 || frameLength > MAX_LINK_FRAME) {
            this.#fail(handlers, `frame of ${frameLength} bytes, expected 1..${MAX_LINK_FRAME}`);
            return;
          }
          need = 4 + frameLength;
          pending = [all];
          pendingBytes = all.length;
          continue;
        }
        const frame = all.subarray(4, need);
        const rest = all.subarray(need);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
        need = 4;
        frameLength = -1;
        let messages: Buffer[];
        try {
          messages = unpackMessages(frame);
        } catch (err) {
          this.#fail(handlers, (err as Error).message);
          return;
        }
        handlers.onMessages(this, messages);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      handlers.onClose?.(this);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  async send(messages: readonly Uint8Array[]): Promise<void> {
    if (this.#closed)
      throw new MeteringError('ERR_LINK', `link to ${this.peer} is closed`, { check: 'link-open' });
    if (messages.length === 0) return;
    const pack = packMessages(messages);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(pack.length, 0);
    this.#socket.write(head);
    if (!this.#socket.write(pack)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#socket.off('drain', done);
          this.#socket.off('close', done);
          resolve();
        };
        this.#socket.on('drain', done);
        this.#socket.on('close', done);
      });
    }
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #fail(handlers: LinkHandlers, why: string): void {
    const error = new MeteringError('ERR_LINK', `link ${this.peer}: ${why}; closing it`, {
      check: 'link-frame',
    });
    this.#socket.destroy();
    this.#closed = true;
    handlers.onClose?.(this, error);
  }
}

/** A listening link server (the aggregator's side). */
export interface LinkServer {
  readonly port: number;
  readonly links: ReadonlySet<Link>;
  close(): Promise<void>;
}

/** Listens for meter links. */
export async function listenLinks(host: string, port: number, handlers: LinkHandlers): Promise<LinkServer> {
  const links = new Set<Link>();
  const server: Server = createServer((socket) => {
    const link = new SocketLink(socket, {
      onMessages: handlers.onMessages,
      onClose: (l, e) => {
        links.delete(l);
        handlers.onClose?.(l, e);
      },
    });
    links.add(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    links,
    close: async () => {
      for (const l of links) l.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Connects a link (the simulator's side). */
export async function connectLink(host: string, port: number, handlers: LinkHandlers): Promise<Link> {
  const socket = createConnection({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (err) =>
      reject(
        new MeteringError(
          'ERR_LINK',
          `cannot reach the aggregator at ${host}:${port}: ${err.message}; is it running?`,
          {
            check: 'link-connect',
          },
        ),
      ),
    );
  });
  return new SocketLink(socket, handlers);
}
