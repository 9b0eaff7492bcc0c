import { MeteringError } from './errors.ts';
import type { SecureSession } from './secure-session.ts';

/**
 * The sessions of one meter: the current one and the one before it, so that envelopes sealed just
 * before a renewal (or queued by an aggregator) still open.
 */
export class SessionSet {
  #current: SecureSession | undefined;
  #previous: SecureSession | undefined;

  get current(): SecureSession | undefined {
    return this.#current;
  }

  /** Makes `session` current; the old current becomes previous; the one before is destroyed. */
  install(session: SecureSession): void {
    this.#previous?.destroy();
    this.#previous = this.#current;
    this.#current = session;
  }

  /** Removes the current session if it has that id (the one before becomes current again). */
  uninstall(sessionId: string): void {
    if (this.#current?.sessionId !== sessionId) return;
    this.#current.destroy();
    this.#current = this.#previous;
    this.#previous = undefined;
  }

  /** The session with that id, if it is the current or the previous one. */
  get(sessionId: string): SecureSession | undefined {
    if (this.#current?.sessionId === sessionId) return this.#current;
    return this.#previous?.sessionId === sessionId ? this.#previous : undefined;
  }

  /** The session with that id, or `ERR_SESSION_UNKNOWN`. */
  find(sessionId: string, meterId: string): SecureSession {
    const s = this.get(sessionId);
    if (s !== undefined) return s;
    throw new MeteringError('ERR_SESSION_UNKNOWN', `meter ${meterId} has no session ${sessionId}`, {
      check: 'session',
      value: sessionId,
      expected: [this.#current, this.#previous].flatMap((s) => (s ? [s.sessionId] : [])).join(',') || 'none',
    });
  }

  /** Destroys both sessions. */
  destroy(): void {
    this.#current?.destroy();
    this.#previous?.destroy();
    this.#current = undefined;
    this.#previous = undefined;
  }
}
