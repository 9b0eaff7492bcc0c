/**
 * PostgreSQL frontend/backend protocol v3 framing: splitting the byte stream a client sends into
 * messages (bounds-checked, with a size limit) and reading their fields, and building the messages
 * the server sends. Everything read from the network is hostile: every read checks its bounds and
 * raises {@link PgProtocolError} (SQLSTATE 08P01), never a RangeError.
 */

/** The special request codes a client may send instead of a startup message. */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3_0 = 196608;

/** A malformed or oversized message: the connection answers 08P01 (or 54000) and closes. */
export class PgProtocolError extends Error {
  override readonly name = 'PgProtocolError';
  readonly sqlstate: string;

  constructor(message: string, sqlstate = '08P01') {
    super(message);
    this.sqlstate = sqlstate;
  }
}

/** One frontend message: its type byte (0 for the untyped startup packet) and its body. */
export interface PgMessage {
  readonly type: number;
  readonly body: Buffer;
}

/**
 * Accumulates chunks and yields complete messages. The length of a message is checked against
 * `maxMessageBytes` as soon as its header arrives, before its body is buffered.
 */
export class MessageFramer {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #startup: boolean;

  constructor(maxMessageBytes: number, startup = true) {
    this.#max = maxMessageBytes;
    this.#startup = startup;
  }

  /** After the startup phase, messages carry a type byte. */
  set startupPhase(value: boolean) {
    this.#startup = value;
  }

  /** Bytes buffered and not yet returned as messages. */
  get buffered(): number {
    return this.#size;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The next complete message, or undefined until more bytes arrive. */
  next(): PgMessage | undefined {
    const headerLen = this.#startup ? 4 : 5;
    if (this.#size < headerLen) return undefined;
    const head = this.#peek(headerLen);
    const type = this.#startup ? 0 : head[0]!;
    const length = head.readInt32BE(this.#startup ? 0 : 1);
    if (length < 4 || (this.#startup && length < 8)) {
      throw new PgProtocolError(`invalid message length ${length}`);
    }
    if (length > this.#max) {
      throw new PgProtocolError(
        `message of ${length} bytes exceeds the limit of ${this.#max} bytes`,
        this.#startup ? '08P01' : '54000',
      );
    }
    const total = length + (this.#startup ? 0 : 1);
    if (this.#size < total) return undefined;
    const all = this.#take(total);
    return { type, body: all.subarray(headerLen) };
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const first = this.#peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#size -= n;
    return out;
  }
}

/** A bounds-checked reader over one message body. */
export class BodyReader {
  readonly #buf: Buffer;
  #pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number, what: string): void {
    if (n < 0 || this.#pos + n > this.#buf.length) throw new PgProtocolError(`truncated message: ${what}`);
  }

  int16(what = 'int16'): number {
    this.#need(2, what);
    const v = this.#buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  int32(what = 'int32'): number {
    this.#need(4, what);
    const v = this.#buf.readInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  byte(what = 'byte'): number {
    this.#need(1, what);
    return this.#buf[this.#pos++]!;
  }

  bytes(n: number, what = 'bytes'): Buffer {
    this.#need(n, what);
    const v = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(what = 'string'): string {
    const end = this.#buf.indexOf(0, this.#pos);
    if (end < 0) throw new PgProtocolError(`truncated message: unterminated ${what}`);
    const s = this.#buf.toString('utf8', this.#pos, end);
    this.#pos = end + 1;
    return s;
  }

  /** A count field that must be in 0..max. */
  count(max: number, what: string): number {
    const n = this.int16(what);
    if (n < 0 || n > max) throw new PgProtocolError(`invalid ${what} ${n}`);
    return n;
  }

  /** Raises 08P01 when bytes are left over (a message longer than its fields). */
  end(what: string): void {
    if (this.remaining !== 0) throw new PgProtocolError(`invalid ${what} message: trailing bytes`);
  }
}

/** Builds backend messages into one growing buffer, flushed to the socket in one write. */
export class MessageWriter {
  #buf = Buffer.allocUnsafe(8192);
  #len = 0;
  #start = -1;

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(bigger, 0, 0, this.#len);
    this.#buf = bigger;
  }

  get length(): number {
    return this.#len;
  }

  begin(type: string): this {
    this.#ensure(5);
    this.#buf[this.#len] = type.charCodeAt(0);
    this.#start = this.#len + 1;
    this.#len += 5;
    return this;
  }

  int16(v: number): this {
    this.#ensure(2);
    this.#buf.writeInt16BE(v, this.#len);
    this.#len += 2;
    return this;
  }

  int32(v: number): this {
    this.#ensure(4);
    this.#buf.writeInt32BE(v | 0, this.#len);
    this.#len += 4;
    return this;
  }

  byte(v: number): this {
    this.#ensure(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.#ensure(n + 1);
    this.#buf.write(s, this.#len, 'utf8');
    this.#len += n;
    this.#buf[this.#len++] = 0;
    return this;
  }

  /** A length-prefixed UTF-8 string (as in DataRow). */
  lstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.#ensure(n + 4);
    this.#buf.writeInt32BE(n, this.#len);
    this.#buf.write(s, this.#len + 4, 'utf8');
    this.#len += n + 4;
    return this;
  }

  end(): this {
    this.#buf.writeInt32BE(this.#len - this.#start, this.#start);
    this.#start = -1;
    return this;
  }

  /** The bytes built so far (copied), and resets the writer. */
  take(): Buffer {
    const out = Buffer.from(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    if (this.#buf.length > 1 << 20) this.#buf = Buffer.allocUnsafe(8192);
    return out;
  }
}
