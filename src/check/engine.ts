// The server checker's engine: the run (target, restarts, unique content) and the scope of one
// check (its connections and their conversation). The checks themselves live in checks/.
import { LinedropError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { findBindFailure, type BindFailure } from './bind-failure.js';
import type { Conversation } from './conversation.js';
import { connectHost, findListeners } from './ports.js';
import { ServerProcess } from './restart.js';
import { servingState } from './serving.js';
import type { CheckServerOptions, CheckStatus, ServerCrash, SkipReason } from './types.js';
import { sleep } from '../text.js';
import { ConnectFailedError, Wire } from './wire.js';
import { formatAddress } from '../net-address.js';

export const DEFAULT_CHECK_TIMEOUT_MS = 3000;
const QUICK_PAUSE_MS = 100;
/** How long a restart that fails with "address already in use" is retried (TIME_WAIT lasts 60 s on Linux). */
export const DEFAULT_ADDR_IN_USE_MS = 65_000;
/** Pause between two restarts while the port is in use. */
const ADDR_IN_USE_RETRY_MS = 500;
/** How often the server's processes are looked at while the checker waits for them to exit or to accept again. */
const SETTLE_POLL_MS = 25;

/** The server stopped accepting connections (and could not be restarted). */
export class ServerUnreachableError extends LinedropError<'LINEDROP_ERR_SERVER_UNREACHABLE'> {
  override name = 'ServerUnreachableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_SERVER_UNREACHABLE', message, options);
  }
}

/** A check ran past its hard limit; its connections are closed. */
export class CheckCancelledError extends LinedropError<'LINEDROP_ERR_CHECK_CANCELLED'> {
  override name = 'CheckCancelledError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_CHECK_CANCELLED', message, options);
  }
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
  /** The server crashed during the check (set by the engine after the check). */
  crash?: ServerCrash;
  /** For a check that judges the order of events: whether it saw the order itself or only timing. */
  evidence?: 'order' | 'timing';
}

export interface CheckDef {
  name: string;
  title: string;
  required: boolean;
  /** Required (whatever `required` says) when this holds for the run's options: `--require-port`. */
  requiredIf?: (options: CheckServerOptions) => boolean;
  needsDir?: boolean;
  /**
   * The check sends nothing once the server was reached: it reports what the run saw. It runs
   * with `quick`, and after the server stopped accepting connections.
   */
  passive?: boolean;
  run(scope: Scope): Promise<Outcome>;
}

/** Whether a check is required in a run with these options. */
export function isRequired(def: CheckDef, options: CheckServerOptions): boolean {
  return def.required || def.requiredIf?.(options) === true;
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
  /** Where the checks connect: the host and port given, or where the server was found listening. */
  readonly target: { host: string; port: number };
  /**
   * The listening sockets of the server, when the checker had to look for them (nothing accepted on the port given).
   */
  listening: string[] | undefined;
  /** The server could not bind its listening socket (from what it printed). */
  bindFailure: BindFailure | undefined;

  constructor(readonly options: CheckServerOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    this.pauseMs = options.pauseMs ?? (options.quick ? QUICK_PAUSE_MS : 1000);
    this.startupMs = options.startupMs ?? 10_000;
    this.addrInUseMs = options.addrInUseMs ?? DEFAULT_ADDR_IN_USE_MS;
    this.proc = options.restartCmd
      ? new ServerProcess(options.restartCmd, options.wrapServer ? { wrap: options.wrapServer } : {})
      : undefined;
    if (this.proc && options.serverLog !== undefined) this.proc.logFile = options.serverLog;
    this.target = { host: options.host, port: options.port };
  }

  /** How long a server that still runs after a check may take to exit (or to wait for connections again). */
  get settleMs(): number {
    return this.timeoutMs + 2000;
  }

  /** Lines that no earlier message of any run can have held: `label [1a2b3c4d-7]`. */
  lines(label: string, n: number): string[] {
    const id = `[${this.nonce}-${++this.serial}]`;
    return Array.from({ length: n }, (_, i) => (n === 1 ? `${label} ${id}` : `${label} ${i + 1}/${n} ${id}`));
  }

  progress(text: string): void {
    this.options.onProgress?.(text);
  }

  async connect(allowRestart: boolean, talk: Conversation, check?: string): Promise<Wire> {
    const { host, port } = this.target;
    try {
      const wire = await Wire.connect(host, port, this.timeoutMs, talk);
      this.connectedOnce = true;
      if (check !== undefined) this.proc?.serving(check);
      return wire;
    } catch (e) {
      if (!(e instanceof ConnectFailedError)) throw e;
      this.lastConnectError = `${e.reason}: ${e.message}`;
      if (!allowRestart || !this.proc)
        throw new ServerUnreachableError(`cannot connect to ${formatAddress(host, port)} (${e.reason})`);
    }
    if (this.connectedOnce) this.knownSingle = true;
    return this.restart(this.proc, talk, check);
  }

  /**
   * Nothing accepts where the checks connect: looks for the ports the server's processes listen
   * on (through /proc: no connection is made) and moves the checks there. Returns whether the
   * target changed.
   */
  private findPort(proc: ServerProcess, talk: Conversation): boolean {
    const found = findListeners({ pids: proc.pids(), ...(this.options.ownNetwork ? { ownNetwork: true } : {}) });
    if (found.length === 0) return false;
    const best = found.find((l) => l.port === this.options.port) ?? found[0]!;
    const host = connectHost(best, this.options.host);
    if (host === this.target.host && best.port === this.target.port) return false;
    this.listening = [...new Set(found.map((l) => formatAddress(l.address, l.port)))];
    talk.note(
      `nothing accepted on ${formatAddress(this.target.host, this.target.port)}; the server listens ` +
        `on ${this.listening.join(', ')}: the checks connect to ${formatAddress(host, best.port)}`,
    );
    this.target.host = host;
    this.target.port = best.port;
    return true;
  }

  /** Waits (at most `settleMs`) until no process of the server runs, so that a new start does not meet the old one. */
  private async waitOldServer(proc: ServerProcess, talk: Conversation): Promise<void> {
    if (!proc.running) return;
    const t0 = Date.now();
    if (await proc.waitGone(this.settleMs))
      talk.note(`the server's earlier processes exited ${Date.now() - t0} ms later`);
    else talk.note(`the server's earlier processes still ran after ${this.settleMs} ms: the checker stopped them`);
  }

  /**
   * Starts the server and waits until its port accepts a connection: the first connection that
   * succeeds is the check's own (a probe would use up a one-connection server). A start that
   * fails because the port is still in use is tried again for `addrInUseMs`.
   */
  private async restart(proc: ServerProcess, talk: Conversation, check: string | undefined): Promise<Wire> {
    const port = this.options.port;
    let inUseSince: number | undefined;
    let lastProgress = 0;
    // A one-connection server is started again only once the earlier one has exited.
    await this.waitOldServer(proc, talk);
    talk.note(`starting the server: ${proc.command}`);
    await proc.start(check);
    let startedAt = Date.now();
    let deadline = startedAt + this.startupMs;
    while (true) {
      try {
        // Attempts refused while the server starts are not the conversation: only the one that succeeds.
        const wire = await Wire.connect(
          this.target.host,
          this.target.port,
          Math.min(this.timeoutMs, 1000),
          talk,
          false,
        );
        talk.note(`the server accepted this connection ${Date.now() - startedAt} ms after it was started`);
        this.connectedOnce = true;
        if (inUseSince !== undefined)
          talk.note(`the port was free again after ${((Date.now() - inUseSince) / 1000).toFixed(1)} s`);
        return wire;
      } catch (e) {
        if (!(e instanceof ConnectFailedError)) throw e;
        this.lastConnectError = `${e.reason}: ${e.message}`;
      }
      // Nothing accepts there: the server may listen on a port of its own choosing.
      if (proc.running && this.findPort(proc, talk)) continue;
      // Once it has exited, read all it printed before judging why.
      const exited = !proc.running;
      if (exited) await proc.exitText(2000);
      const bind = exited ? findBindFailure(proc.output) : undefined;
      if (bind) this.bindFailure = bind;
      if (exited && proc.addrInUse) {
        inUseSince ??= Date.now();
        // Counted from the first "address already in use", not from the first start (which may be slow).
        const inUseUntil = inUseSince + this.addrInUseMs;
        if (Date.now() >= inUseUntil) {
          throw new ServerUnreachableError(
            `the server could not listen on port ${port}: "address already in use" for ` +
              `${Math.round((Date.now() - inUseSince) / 1000)} s ` +
              '(most likely connections of an earlier run waiting in TIME_WAIT). Fix: set ' +
              'SO_REUSEADDR on the listening socket before bind() ' +
              '(Python: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)); it printed: ' +
              proc.lastLines(3),
          );
        }
        if (Date.now() - lastProgress >= 5000) {
          lastProgress = Date.now();
          const left = Math.ceil((inUseUntil - Date.now()) / 1000);
          this.progress(
            `the server's port ${port} is still in use ("address already in use"); starting it ` +
              `again every ${ADDR_IN_USE_RETRY_MS} ms for up to ${left} s more`,
          );
          talk.note(`the server could not listen: "address already in use"; trying again`);
        }
        await sleep(ADDR_IN_USE_RETRY_MS);
        await proc.start(check);
        startedAt = Date.now();
        deadline = startedAt + this.startupMs;
        continue;
      }
      if (exited || Date.now() >= deadline) {
        const why = bind
          ? bind.text
          : exited
            ? `the command ${proc.lastExit ?? 'exited'}`
            : `it did not accept connections within ${this.startupMs} ms`;
        const output = proc.output.trim();
        throw new ServerUnreachableError(
          `started the server with ${JSON.stringify(proc.command)} but ${why}${output ? `; it printed: ${output.slice(-500)}` : ''}`,
        );
      }
      await sleep(50);
    }
  }

  /**
   * After a check: a server the checker started that serves one connection must have exited
   * before the next check connects, else that connection lands in the listen backlog of a process
   * on its way out (and is reset when it exits), or of one that is stuck. Returns a note when the
   * server had to be stopped.
   *
   * A server that still runs is told apart by what its processes do (serving.ts), not by how long
   * it takes: a thread waiting for a connection on its listening socket means it serves the next
   * check; a listening socket nobody waits on (a lab server sleeping a second after Q before it
   * closes: it closes its listening socket only at exit), or none left, means it is on its way
   * out: the checker waits for it to exit, at most `settleMs`, then stops it. Where /proc cannot
   * tell, a short wait decides, as before.
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
    const started = Date.now();
    const deadline = started + this.settleMs;
    let state = servingState(proc.pids(), this.options.ownNetwork === true);
    while (state === 'idle' || state === 'not-listening') {
      if (Date.now() >= deadline) break;
      await sleep(SETTLE_POLL_MS);
      state = servingState(proc.pids(), this.options.ownNetwork === true);
    }
    switch (state) {
      case 'gone':
        this.knownSingle = true;
        return undefined;
      case 'accepting':
        if (!this.knownSingle) this.knownMulti = true;
        return undefined;
      case 'unknown':
        return this.settleByTime(proc);
      default: {
        await proc.stop();
        this.knownSingle = true;
        const doing =
          state === 'not-listening'
            ? 'had closed its listening socket'
            : 'no longer waited for connections (it held its listening socket without accepting: asleep or busy)';
        return (
          `the server still ran ${Date.now() - started} ms after the check's connections ended ` +
          `and ${doing}: the checker stopped it and restarts it for the next check`
        );
      }
    }
  }

  /** Where what the server's processes do cannot be seen: it is one-connection if it exits soon. */
  private async settleByTime(proc: ServerProcess): Promise<string | undefined> {
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
    return (
      `the server was still running ${wait} ms after the check's connections ended (a lab ` +
      `server exits after its connection): it looks stuck or still busy; the checker stopped it and ` +
      `restarts it for the next check`
    );
  }
}

/** One attempt at one check: its connections, closed when it ends. */
export class Scope {
  readonly wires: Wire[] = [];
  cancelled = false;
  constructor(
    readonly run: Run,
    readonly talk: Conversation,
    /** The check's name (the server's output is kept per start, with the checks each start served). */
    readonly check?: string,
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
    if (this.cancelled) throw new CheckCancelledError('the check was stopped');
    const wire = await this.run.connect(restart, this.talk, this.check);
    if (this.cancelled) {
      wire.destroy();
      throw new CheckCancelledError('the check was stopped');
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
