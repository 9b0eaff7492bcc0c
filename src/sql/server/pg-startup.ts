/**
 * The startup phase of a connection: SSLRequest (→ TLS or `N`), GSSENCRequest (`N`),
 * CancelRequest, the startup packet (protocol 3.0, parameters), then authentication (SCRAM-SHA-256
 * over SASL, a TLS client certificate, or trust) and the greeting: AuthenticationOk,
 * ParameterStatus, BackendKeyData, ReadyForQuery.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { isIssuedBy } from './pg-auth.ts';
import { REPORTED_PARAMETERS } from './pg-catalog.ts';
import type { PgErrorFields } from './pg-messages.ts';
import { writeAuth, writeParameterStatus, writeReady } from './pg-messages.ts';
import type { ResolvedPgOptions } from './pg-options.ts';
import {
  BodyReader,
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  type MessageFramer,
  type MessageWriter,
  type PgMessage,
  PgProtocolError,
  PROTOCOL_3_0,
  SSL_REQUEST_CODE,
} from './pg-protocol.ts';
import { ScramExchange } from './pg-scram.ts';

/** What the startup phase needs from its connection. */
export interface StartupHost {
  readonly options: ResolvedPgOptions;
  readonly writer: MessageWriter;
  readonly framer: MessageFramer;
  socket(): Socket;
  replaceSocket(s: Socket): void;
  flush(): Promise<void>;
  register(): { pid: number; secret: number } | undefined;
  cancel(pid: number, secret: number): void;
  ready(user: string, database: string): void;
  fatal(f: PgErrorFields): Promise<void>;
  close(): void;
}

type Phase = 'initial' | 'sasl-initial' | 'sasl-final';

export class PgStartup {
  readonly #h: StartupHost;
  #phase: Phase = 'initial';
  #tls = false;
  #user = '';
  #database = '';
  #applicationName = '';
  #scram: ScramExchange | undefined;

  constructor(host: StartupHost) {
    this.#h = host;
  }

  async handle(msg: PgMessage): Promise<void> {
    if (this.#phase === 'initial') {
      await this.#initial(msg.body);
      return;
    }
    if (msg.type !== 0x70)
      throw new PgProtocolError(`expected a password response, got message type ${msg.type}`);
    if (this.#phase === 'sasl-initial') await this.#saslInitial(msg.body);
    else await this.#saslFinal(msg.body);
  }

  async #initial(body: Buffer): Promise<void> {
    const r = new BodyReader(body);
    const code = r.int32('protocol version');
    if (code === SSL_REQUEST_CODE) return this.#sslRequest(r);
    if (code === GSSENC_REQUEST_CODE) {
      r.end('GSSENCRequest');
      this.#h.socket().write('N');
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      const pid = r.int32('process id');
      const secret = r.int32('secret key');
      r.end('CancelRequest');
      this.#h.cancel(pid, secret);
      this.#h.close();
      return;
    }
    if (code >> 16 !== 3) {
      await this.#refuse(
        '0A000',
        `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0`,
      );
      return;
    }
    await this.#startupPacket(r, code);
  }

  async #sslRequest(r: BodyReader): Promise<void> {
    r.end('SSLRequest');
    const tls = this.#h.options.tls;
    const socket = this.#h.socket();
    if (tls === undefined || this.#tls) {
      socket.write('N');
      return;
    }
    // Bytes sent after SSLRequest but before the handshake would be read as if encrypted.
    if (this.#h.framer.buffered > 0) throw new PgProtocolError('received unencrypted data after SSL request');
    socket.write('S');
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: tls.context,
      requestCert: this.#h.options.auth.requestsCertificates,
      rejectUnauthorized: false,
    });
    this.#tls = true;
    this.#h.replaceSocket(secure);
  }

  async #startupPacket(r: BodyReader, code: number): Promise<void> {
    this.#h.framer.startupPhase = false;
    const params = new Map<string, string>();
    const unknown: string[] = [];
    for (;;) {
      const name = r.cstring('parameter name');
      if (name === '') break;
      const value = r.cstring('parameter value');
      if (params.size > 64) throw new PgProtocolError('too many startup parameters');
      if (name.startsWith('_pq_.')) unknown.push(name);
      else params.set(name, value);
    }
    r.end('startup packet');
    const o = this.#h.options;
    if (o.tls?.required === true && !this.#tls) {
      return this.#refuse('28000', 'connection refused: TLS is required (connect with sslmode=require)');
    }
    this.#user = params.get('user') ?? '';
    if (this.#user === '')
      return this.#refuse('28000', 'no PostgreSQL user name specified in startup packet');
    this.#database = params.get('database') || this.#user;
    this.#applicationName = params.get('application_name') ?? '';
    if (o.databaseName !== undefined && this.#database !== o.databaseName) {
      return this.#refuse('3D000', `database "${this.#database}" does not exist`);
    }
    if ((code & 0xffff) !== 0 || unknown.length > 0) {
      const w = this.#h.writer.begin('v').int32(PROTOCOL_3_0).int32(unknown.length);
      for (const u of unknown) w.cstring(u);
      w.end();
    }
    await this.#authenticate();
  }

  async #authenticate(): Promise<void> {
    const socket = this.#h.socket();
    const certificate = socket instanceof TLSSocket ? socket.getPeerX509Certificate() : undefined;
    const peer =
      certificate === undefined
        ? undefined
        : { authorized: isIssuedBy(certificate, this.#h.options.tls?.caCertificates ?? []), certificate };
    const decision = this.#h.options.auth.decide(this.#user, peer);
    if (decision.kind === 'refuse') return this.#refuse('28000', decision.message);
    if (decision.kind === 'ok') return this.#greet();
    this.#scram = new ScramExchange(decision.verifier);
    writeAuth(this.#h.writer, 10, Buffer.from('SCRAM-SHA-256\0\0'));
    this.#phase = 'sasl-initial';
    await this.#h.flush();
  }

  async #saslInitial(body: Buffer): Promise<void> {
    const r = new BodyReader(body);
    const mechanism = r.cstring('SASL mechanism');
    const length = r.int32('SASL data length');
    const data = r.bytes(length, 'SASL data').toString('utf8');
    r.end('SASLInitialResponse');
    if (mechanism !== 'SCRAM-SHA-256') {
      return this.#refuse('28000', `SASL authentication mechanism ${mechanism} is not supported`);
    }
    try {
      writeAuth(this.#h.writer, 11, this.#scram!.first(data));
    } catch (err) {
      return this.#refuse('08P01', (err as Error).message);
    }
    this.#phase = 'sasl-final';
    await this.#h.flush();
  }

  async #saslFinal(body: Buffer): Promise<void> {
    let serverFinal: string;
    try {
      serverFinal = this.#scram!.final(body.toString('utf8'));
    } catch (err) {
      const code = (err as { sqlstate?: string }).sqlstate ?? '28P01';
      const message =
        code === '28P01' ? `password authentication failed for user "${this.#user}"` : (err as Error).message;
      return this.#refuse(code, message);
    }
    writeAuth(this.#h.writer, 12, serverFinal);
    await this.#greet();
  }

  async #greet(): Promise<void> {
    const keys = this.#h.register();
    if (keys === undefined) return this.#refuse('53300', 'sorry, too many clients already');
    const w = this.#h.writer;
    writeAuth(w, 0);
    const params: Record<string, string> = {
      ...REPORTED_PARAMETERS,
      application_name: this.#applicationName,
      session_authorization: this.#user,
    };
    for (const [name, value] of Object.entries(params)) writeParameterStatus(w, name, value);
    w.begin('K').int32(keys.pid).int32(keys.secret).end();
    this.#h.ready(this.#user, this.#database);
    writeReady(w, 'I');
    await this.#h.flush();
  }

  #refuse(code: string, message: string): Promise<void> {
    return this.#h.fatal({ severity: 'FATAL', code, message });
  }
}
