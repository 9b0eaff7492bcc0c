/**
 * One supervised service process: spawned as `node bin/securecloud …` in a process group of its own
 * (so that a Ctrl-C on the terminal reaches the supervisor only, which then stops services in order),
 * stderr appended to its log file, stdout read line by line for its `ready` line. After it was ready
 * once, an unexpected exit restarts it with exponential backoff.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DeployError } from './errors.ts';
import type { ServiceKind, ServiceRecord, ServiceState } from './state-file.ts';

/** The `securecloud` entry script. */
export const SECURECLOUD_BIN = fileURLToPath(new URL('../../bin/securecloud', import.meta.url));

/** What a ready line says about the process. */
export interface ReadyInfo {
  readonly instanceId?: string;
  readonly simulation?: boolean;
  readonly platform?: string;
}

/** How to run one service. */
export interface ServiceSpec {
  readonly name: string;
  readonly kind: ServiceKind;
  /** Arguments of `securecloud`. */
  readonly args: readonly string[];
  /** Arguments of node itself, before the script (V8 tuning). */
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly ports: readonly number[];
  readonly healthUrl: string | null;
  readonly logFile: string;
  /** Recognizes the ready line on stdout; `null` = ready as soon as it is spawned. */
  readonly ready: ((line: string) => ReadyInfo | null) | null;
  /** Time allowed to become ready. */
  readonly readyTimeoutMs: number;
  /** Exit code 0 means done (the simulator after its rounds): not restarted. */
  readonly exitZeroIsDone?: boolean;
  /** Every stdout line (after the ready one). */
  readonly onLine?: (line: string) => void;
}

/** The restart policy. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly resetAfterMs: number;
}

/** What a managed service reports to its supervisor. */
export type ServiceEvent =
  | { readonly type: 'ready'; readonly name: string; readonly info: ReadyInfo; readonly restart: number }
  | {
      readonly type: 'exit';
      readonly name: string;
      readonly how: string;
      readonly restartInMs: number;
      readonly restart: number;
    }
  | { readonly type: 'restart-failed'; readonly name: string; readonly reason: string }
  | { readonly type: 'completed'; readonly name: string };

/** The delay before restart number `attempt` (0-based) under `policy`. */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
}

/** A supervised process. */
export class ManagedService {
  readonly spec: ServiceSpec;
  readonly #backoff: BackoffPolicy;
  readonly #onEvent: (e: ServiceEvent) => void;
  #child: ChildProcess | null = null;
  #state: ServiceState = 'stopped';
  #restarts = 0;
  #attempt = 0;
  #info: ReadyInfo | null = null;
  #readyAt = 0;
  #startedAt: string | null = null;
  #lastExit: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(spec: ServiceSpec, backoff: BackoffPolicy, onEvent: (e: ServiceEvent) => void) {
    this.spec = spec;
    this.#backoff = backoff;
    this.#onEvent = onEvent;
  }

  /** The published view of this service. */
  record(): ServiceRecord {
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      pid: this.#alive() ? (this.#child?.pid ?? null) : null,
      state: this.#state,
      restarts: this.#restarts,
      attested: this.#state === 'running' && this.#info !== null && this.spec.kind !== 'simulator',
      instanceId: this.#info?.instanceId ?? null,
      platform: this.#info?.platform ?? null,
      simulation: this.#info?.simulation ?? false,
      ports: this.spec.ports,
      healthUrl: this.spec.healthUrl,
      startedAt: this.#startedAt,
      lastExit: this.#lastExit,
      logFile: this.spec.logFile,
    };
  }

  #alive(): boolean {
    const c = this.#child;
    return c !== null && c.exitCode === null && c.signalCode === null;
  }

  get state(): ServiceState {
    return this.#state;
  }

  /**
   * Starts the process and waits for its ready line.
   *
   * @throws DeployError `ERR_SERVICE_START` with the end of its log when it exits or times out first.
   */
  async start(): Promise<ReadyInfo> {
    this.#stopping = false;
    this.#state = 'starting';
    let info: ReadyInfo;
    try {
      info = await this.#spawn();
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
    this.#state = 'running';
    this.#info = info;
    this.#readyAt = Date.now();
    return info;
  }

  #spawn(): Promise<ReadyInfo> {
    const s = this.spec;
    const logFd = openSync(s.logFile, 'a', 0o600);
    writeSync(
      logFd,
      `${JSON.stringify({ time: new Date().toISOString(), supervisor: 'start', service: s.name })}\n`,
    );
    const child = spawn(process.execPath, [...(s.nodeArgs ?? []), SECURECLOUD_BIN, ...s.args], {
      stdio: ['ignore', 'pipe', logFd],
      detached: true,
      env: { ...process.env, ...s.env },
    });
    closeSync(logFd);
    this.#child = child;
    this.#startedAt = new Date().toISOString();
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
    });
    this.#exited = exited.then(() => undefined);
    let ready = s.ready === null;
    const lines: ((line: string) => void)[] = [];
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        for (const fn of lines) fn(line);
      }
      if (buffer.length > 1 << 20) buffer = '';
    });
    lines.push((line) => {
      if (ready) s.onLine?.(line);
    });
    const whenReady = new Promise<ReadyInfo>((resolve, reject) => {
      if (s.ready === null) {
        resolve({});
        return;
      }
      const timer = setTimeout(() => {
        reject(this.#startError(`did not become ready within ${s.readyTimeoutMs / 1000} s`));
        child.kill('SIGKILL');
      }, s.readyTimeoutMs);
      lines.push((line) => {
        if (ready) return;
        const info = s.ready?.(line) ?? null;
        if (info === null) return;
        ready = true;
        clearTimeout(timer);
        resolve(info);
      });
      void exited.then((how) => {
        clearTimeout(timer);
        if (!ready) reject(this.#startError(`exited (${how}) before it was ready`));
      });
    });
    void exited.then((how) => this.#onExit(child, how, ready));
    return whenReady;
  }

  #startError(what: string): DeployError {
    return new DeployError(
      'ERR_SERVICE_START',
      `${this.spec.name} ${what}; its log is ${this.spec.logFile} (the last lines say why)`,
    );
  }

  #onExit(child: ChildProcess, how: string, wasReady: boolean): void {
    if (this.#child !== child) return;
    this.#lastExit = how;
    if (this.#stopping) {
      this.#state = 'stopped';
      return;
    }
    if (!wasReady) return; // start() reports it, or the restart loop retries
    if (how === 'exit code 0' && this.spec.exitZeroIsDone) {
      this.#state = 'completed';
      this.#onEvent({ type: 'completed', name: this.spec.name });
      return;
    }
    if (Date.now() - this.#readyAt >= this.#backoff.resetAfterMs) this.#attempt = 0;
    this.#scheduleRestart(how);
  }

  #scheduleRestart(how: string): void {
    const delay = backoffDelay(this.#backoff, this.#attempt++);
    this.#restarts++;
    this.#state = 'restarting';
    this.#info = null;
    this.#onEvent({ type: 'exit', name: this.spec.name, how, restartInMs: delay, restart: this.#restarts });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopping) return;
      this.#spawn().then(
        (info) => {
          if (this.#stopping) return;
          this.#state = 'running';
          this.#info = info;
          this.#readyAt = Date.now();
          this.#onEvent({ type: 'ready', name: this.spec.name, info, restart: this.#restarts });
        },
        (err: Error) => {
          if (this.#stopping) return;
          this.#onEvent({ type: 'restart-failed', name: this.spec.name, reason: err.message });
          this.#scheduleRestart(this.#lastExit ?? 'failed');
        },
      );
    }, delay);
  }

  /** Stops the process: SIGTERM, then SIGKILL after `timeoutMs`. No restart afterwards. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const child = this.#child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      if (this.#state !== 'completed') this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.#exited, killed]);
    clearTimeout(timer);
    await this.#exited;
    this.#state = 'stopped';
  }
}
