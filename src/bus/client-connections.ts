/**
 * The CURVE client side of connecting sockets: which server key each endpoint pins, and reconnection
 * after a refused handshake (libzmq gives up after the server's ZAP handler refuses; a peer that the
 * CAS lists a moment later, or a key directory that was briefly unavailable, must not need a restart).
 */

/** The options and calls of a native socket that reconnecting needs. */
export interface CurveClientSocket {
  curveServerKey: string | null;
  connect(endpoint: string): void;
  disconnect(endpoint: string): void;
}

/**
 * The endpoints a CURVE client socket connects to, each with the server key it pins, and the retries
 * after refused handshakes. libzmq copies the server key option at connect time, so each retry sets
 * the endpoint's own key first.
 */
export class ClientConnections {
  readonly endpoints = new Map<string, string>();
  readonly #retries = new Map<string, { delay: number; timer?: NodeJS.Timeout }>();
  readonly #retryMs: { first: number; max: number };
  #pinned: string;

  constructor(serverKey: string, retryMs: { first: number; max: number }) {
    this.#pinned = serverKey;
    this.#retryMs = retryMs;
  }

  /** Sets the socket's server key option to `serverKey` (for the next connect). */
  pin(native: CurveClientSocket, serverKey: string): void {
    if (this.#pinned === serverKey) return;
    setQuietly(() => {
      native.curveServerKey = serverKey;
    });
    this.#pinned = serverKey;
  }

  /** Reconnects to `address` after the current delay (events name the endpoint as connected). */
  retry(native: CurveClientSocket, address: string): void {
    const endpoint = this.endpoints.has(address)
      ? address
      : this.endpoints.size === 1
        ? [...this.endpoints.keys()][0]!
        : undefined;
    if (endpoint === undefined) return;
    const state = this.#retries.get(endpoint) ?? { delay: this.#retryMs.first };
    this.#retries.set(endpoint, state);
    if (state.timer !== undefined) return;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      state.delay = Math.min(state.delay * 2, this.#retryMs.max);
      const serverKey = this.endpoints.get(endpoint);
      if (serverKey === undefined) return;
      try {
        native.disconnect(endpoint);
      } catch {
        // libzmq may have dropped the endpoint already after the refusal
      }
      try {
        this.pin(native, serverKey);
        native.connect(endpoint);
      } catch {
        // the socket closed meanwhile: nothing to retry
      }
    }, state.delay);
    state.timer.unref();
  }

  succeeded(address: string): void {
    this.#clear(address);
  }

  forget(endpoint: string): void {
    this.endpoints.delete(endpoint);
    this.#clear(endpoint);
  }

  stop(): void {
    for (const endpoint of [...this.#retries.keys()]) this.#clear(endpoint);
  }

  #clear(endpoint: string): void {
    clearTimeout(this.#retries.get(endpoint)?.timer);
    this.#retries.delete(endpoint);
  }
}

/**
 * zeromq.js warns ("will not take effect until next connect/bind") when an option is set on a socket
 * that already has endpoints; for the CURVE server key that is exactly the intent (it applies to the
 * next connect), so the warning is muted for this one synchronous assignment.
 */
function setQuietly(assign: () => void): void {
  const original = process.emitWarning;
  process.emitWarning = (() => {}) as typeof process.emitWarning;
  try {
    assign();
  } finally {
    process.emitWarning = original;
  }
}
