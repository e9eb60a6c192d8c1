// The server checker's engine: the run (target, restarts, unique content) and the scope of one
// check (its connections and their conversation). The checks themselves live in checks/.
import { randomBytes } from 'node:crypto';
import type { Conversation } from './conversation.js';
import { ServerProcess } from './restart.js';
import type { CheckServerOptions, CheckStatus, SkipReason } from './types.js';
import { ConnectFailed, sleep, Wire } from './wire.js';
import { formatAddress } from '../net-address.js';

export const DEFAULT_TIMEOUT_MS = 3000;
const QUICK_PAUSE_MS = 100;
/** How long a restart that fails with "address already in use" is retried (TIME_WAIT lasts 60 s on Linux). */
export const DEFAULT_ADDR_IN_USE_MS = 65_000;
/** Pause between two restarts while the port is in use. */
const ADDR_IN_USE_RETRY_MS = 500;

/** The server stopped accepting connections (and could not be restarted). */
export class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

/** A check ran past its hard limit; its connections are closed. */
export class Cancelled extends Error {
  override readonly name = 'Cancelled';
}

/** What a check found. */
export interface Outcome {
  status: CheckStatus;
  skipReason?: SkipReason;
  sent: string;
  expected: string;
  seen: string;
  notes?: string[];
  /**
   * What went wrong, as a key shared by every check that a single fault makes fail (`no-q`,
   * `extra-byte-0a`, `stuck`, ...): the engine reports the first check with a key as the cause of
   * the later ones (`causedBy`).
   */
  fault?: string;
  /** The earlier check this failure follows from, when the check knows it. */
  causedBy?: string;
  /** For a check that judges the order of events: whether it saw the order itself or only timing. */
  evidence?: 'order' | 'timing';
}

export interface CheckDef {
  name: string;
  title: string;
  required: boolean;
  needsDir?: boolean;
  run(scope: Scope): Promise<Outcome>;
}

/** Everything a run shares: the target, the restart machinery, the unique content counter. */
export class Run {
  readonly timeoutMs: number;
  readonly pauseMs: number;
  readonly startupMs: number;
  readonly addrInUseMs: number;
  readonly nonce = randomBytes(4).toString('hex');
  readonly proc: ServerProcess | undefined;
  private serial = 0;
  /** A connection was made at least once. */
  connectedOnce = false;
  /** The server exits after a connection (as the lab's does), or died: it had to be restarted after serving a check. */
  knownSingle = false;
  /** The server kept running after a check's connections ended: it serves more than one connection. */
  knownMulti = false;
  /** Set by a check that found the server stuck (no answer after a client vanished): it must be stopped. */
  stuck: string | undefined;
  lastConnectError: string | undefined;

  constructor(readonly options: CheckServerOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pauseMs = options.pauseMs ?? (options.quick ? QUICK_PAUSE_MS : 1000);
    this.startupMs = options.startupMs ?? 10_000;
    this.addrInUseMs = options.addrInUseMs ?? DEFAULT_ADDR_IN_USE_MS;
    this.proc = options.restartCmd ? new ServerProcess(options.restartCmd, options.wrapServer ? { wrap: options.wrapServer } : {}) : undefined;
  }

  /** Lines that no earlier message of any run can have held: `label [1a2b3c4d-7]`. */
  lines(label: string, n: number): string[] {
    const id = `[${this.nonce}-${++this.serial}]`;
    return Array.from({ length: n }, (_, i) => (n === 1 ? `${label} ${id}` : `${label} ${i + 1}/${n} ${id}`));
  }

  progress(text: string): void {
    this.options.onProgress?.(text);
  }

  async connect(allowRestart: boolean, talk: Conversation): Promise<Wire> {
    const { host, port } = this.options;
    try {
      const wire = await Wire.connect(host, port, this.timeoutMs, talk);
      this.connectedOnce = true;
      return wire;
    } catch (e) {
      if (!(e instanceof ConnectFailed)) throw e;
      this.lastConnectError = `${e.code}: ${e.message}`;
      if (!allowRestart || !this.proc) throw new Unreachable(`cannot connect to ${formatAddress(host, port)} (${e.code})`);
    }
    if (this.connectedOnce) this.knownSingle = true;
    return this.restart(this.proc, talk);
  }

  /**
   * Starts the server and waits until its port accepts a connection: the first connection that
   * succeeds is the check's own (a probe would use up a one-connection server). A start that
   * fails because the port is still in use is tried again for `addrInUseMs`.
   */
  private async restart(proc: ServerProcess, talk: Conversation): Promise<Wire> {
    const { host, port } = this.options;
    const inUseUntil = Date.now() + this.addrInUseMs;
    let inUseSince: number | undefined;
    let lastProgress = 0;
    talk.note(`starting the server: ${proc.command}`);
    await proc.start();
    let startedAt = Date.now();
    let deadline = startedAt + this.startupMs;
    while (true) {
      try {
        // Attempts refused while the server starts are not the conversation: only the one that succeeds.
        const wire = await Wire.connect(host, port, Math.min(this.timeoutMs, 1000), talk, false);
        talk.note(`the server accepted this connection ${Date.now() - startedAt} ms after it was started`);
        this.connectedOnce = true;
        if (inUseSince !== undefined) talk.note(`the port was free again after ${((Date.now() - inUseSince) / 1000).toFixed(1)} s`);
        return wire;
      } catch (e) {
        if (!(e instanceof ConnectFailed)) throw e;
        this.lastConnectError = `${e.code}: ${e.message}`;
      }
      // Once it has exited, read all it printed before judging why.
      const exited = !proc.running;
      if (exited) await proc.exitText(2000);
      if (exited && proc.addrInUse) {
        inUseSince ??= Date.now();
        if (Date.now() >= inUseUntil) {
          throw new Unreachable(
            `the server could not listen on port ${port}: "address already in use" for ${Math.round((Date.now() - inUseSince) / 1000)} s ` +
              '(most likely connections of an earlier run waiting in TIME_WAIT). Fix: set SO_REUSEADDR on the listening socket before bind() ' +
              '(Python: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)); it printed: ' +
              proc.lastLines(3),
          );
        }
        if (Date.now() - lastProgress >= 5000) {
          lastProgress = Date.now();
          const left = Math.ceil((inUseUntil - Date.now()) / 1000);
          this.progress(
            `the server's port ${port} is still in use ("address already in use"); starting it again every ${ADDR_IN_USE_RETRY_MS} ms for up to ${left} s more`,
          );
          talk.note(`the server could not listen: "address already in use"; trying again`);
        }
        await sleep(ADDR_IN_USE_RETRY_MS);
        await proc.start();
        startedAt = Date.now();
        deadline = startedAt + this.startupMs;
        continue;
      }
      if (exited || Date.now() >= deadline) {
        const why = exited ? `the command ${proc.lastExit ?? 'exited'}` : `it did not accept connections within ${this.startupMs} ms`;
        const output = proc.output.trim();
        throw new Unreachable(`started the server with ${JSON.stringify(proc.command)} but ${why}${output ? `; it printed: ${output.slice(-500)}` : ''}`);
      }
      await sleep(50);
    }
  }

  /**
   * After a check: a server the checker started that serves one connection must have exited
   * before the next check connects (else that connection lands in the listen backlog of a process
   * on its way out, or stuck). Returns a note when the server had to be stopped.
   */
  async settleServer(): Promise<string | undefined> {
    const proc = this.proc;
    if (!proc?.started) return undefined;
    if (this.stuck !== undefined) {
      this.stuck = undefined;
      await proc.stop();
      return 'the checker stopped the server (every process its command started) and restarts it for the next check';
    }
    if (this.knownMulti) return undefined;
    const wait = this.knownSingle ? Math.min(this.timeoutMs, 2000) : 300;
    if (await proc.waitGone(wait)) {
      this.knownSingle = true;
      return undefined;
    }
    if (!this.knownSingle) {
      this.knownMulti = true;
      return undefined;
    }
    await proc.stop();
    return `the server was still running ${wait} ms after the check's connections ended (a lab server exits after its connection): it looks stuck or still busy; the checker stopped it and restarts it for the next check`;
  }
}

/** One attempt at one check: its connections, closed when it ends. */
export class Scope {
  readonly wires: Wire[] = [];
  cancelled = false;
  constructor(
    readonly run: Run,
    readonly talk: Conversation,
  ) {}

  get dir(): string {
    const dir = this.run.options.dir;
    if (dir === undefined) throw new Error('this check needs the server folder');
    return dir;
  }

  get hasDir(): boolean {
    return this.run.options.dir !== undefined;
  }

  get t(): number {
    return this.run.timeoutMs;
  }

  /** A connection for this check; restarts the server if it is gone and `restart` is allowed. */
  async connect(restart = true): Promise<Wire> {
    if (this.cancelled) throw new Cancelled('the check was stopped');
    const wire = await this.run.connect(restart, this.talk);
    if (this.cancelled) {
      wire.destroy();
      throw new Cancelled('the check was stopped');
    }
    this.wires.push(wire);
    return wire;
  }

  close(): void {
    for (const w of this.wires) w.destroy();
  }

  /** The check's first connection was closed by the server before it sent any byte. */
  get silentlyClosed(): boolean {
    const first = this.wires[0];
    return first !== undefined && first.received === 0 && first.serverGone && !first.closedByUs;
  }
}
