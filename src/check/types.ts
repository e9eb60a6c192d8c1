// The server checker's results: what `checkServer` returns and every reporter (text, JSON, CSV,
// JUnit, Gradescope, HTML) renders. Reporters read these types only, never the engine.

/**
 * A check's verdict:
 * - `pass`: the check saw what the rule asks for;
 * - `fail`: it saw something else (see `causedBy` for a failure that follows from an earlier one);
 * - `skip`: it did not run, or ran but what it looks at did not happen (`skipReason` says which);
 * - `not-applicable`: the rule cannot apply to this server, e.g. several clients at once to a
 *   server that serves one connection and exits, as the lab's does.
 */
export type CheckStatus = 'pass' | 'fail' | 'skip' | 'not-applicable';

/**
 * Why a check was skipped: `needs-dir` (the check reads the server's folder: give `dir`),
 * `unreachable` (the server stopped accepting connections and could not be restarted),
 * `not-selected` (left out by `only`), `quick` (a check beyond the handout, left out by `quick`),
 * `not-judged` (the check ran but what it looks at did not happen, because of a fault another
 * check reports), `interrupted` (the run was aborted through `signal`).
 */
export type SkipReason = 'needs-dir' | 'unreachable' | 'not-selected' | 'quick' | 'not-judged' | 'interrupted';

/**
 * One event of a check's conversation with the server, in the order it happened.
 * - `connect`: connection `conn` was made (`text` may say to what);
 * - `sent` / `received`: bytes (`hex`) written by the checker / read from the server;
 * - `closed`: the connection ended in an orderly way (`text`: who closed it);
 * - `reset`: the connection was reset (`text`: by whom, or the error);
 * - `refused`: a connection attempt failed (`text`: why);
 * - `timeout`: a wait ended without what it waited for (`text`: what and how long);
 * - `note`: anything else worth showing on the timeline (a pause, a restart, a file read).
 */
export interface ConversationEvent {
  /** Milliseconds since the check began. */
  at: number;
  /** The check's connection: 1, 2, ... (0 for a note that belongs to no connection). */
  conn: number;
  kind: 'connect' | 'sent' | 'received' | 'closed' | 'reset' | 'refused' | 'timeout' | 'note';
  /** The bytes, lowercase hex without spaces, for `sent` and `received`. */
  hex?: string;
  /** Words, for `note`, `timeout`, `refused`, `closed`, `reset`, `connect`. */
  text?: string;
}

export interface CheckResult {
  name: string;
  title: string;
  /** True for the handout's rules; false for the checks that go beyond it (they never fail the exit status). */
  required: boolean;
  status: CheckStatus;
  skipReason?: SkipReason;
  /**
   * For a failure (or a skip) that follows from an earlier check's failure: the name of that
   * earlier check. The first failure without `causedBy` is the bug to fix first.
   */
  causedBy?: string;
  /** What the checker sent: counts in hex (`[00 00 00 02]`), lines as JSON strings, pauses, closes. */
  sent: string;
  expected: string;
  seen: string;
  notes: string[];
  /** Connections the check opened. */
  connections: number;
  ms: number;
  /** Everything the check sent and received, with times: the timeline of the reports. */
  conversation: ConversationEvent[];
  /** The server (started by the checker) crashed while this check ran; `seen` says so too. */
  crash?: ServerCrash;
  /**
   * For a check that judges the order of the server's events (A after storing): `order` when it
   * saw the order itself (the server's system calls), `timing` when it could only read the folder
   * at the moment an answer arrived (a store microseconds after A can then pass).
   */
  evidence?: 'order' | 'timing';
}

/** A crash of the server during a check, in words: what the error was and where. */
export interface ServerCrash {
  /** `the server crashed: UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 (tcp.py line 143, in read_line)` */
  text: string;
  /** The error as the program named it (`UnicodeDecodeError: ...`, `killed by SIGSEGV (...)`). */
  error: string;
  /** Where, when its output says: `tcp.py line 143, in read_line`. */
  where?: string;
  /** How the server's command ended: `exited with status 1`, `killed by SIGSEGV`. */
  exit: string;
  /** Which start of the server (see `CheckReport.serverStarts`). */
  start: number;
}

/** One start of the server by the checker (`restartCmd`): the checks it served and what it printed. */
export interface ServerStartReport {
  /** 1, 2, ... */
  start: number;
  /** The checks that ran with this start as their server; the first is the one that started it. */
  checks: string[];
  /** The end of what it printed, standard output and error together (at most 16 KiB). */
  output: string;
  /** Bytes it printed in all. */
  bytes: number;
  /** How it ended, once it had: `exited with status 1`, `killed by SIGTERM`. */
  exit: string | null;
  /** The checker stopped it (its end is then no crash). */
  stoppedByChecker: boolean;
  /** The crash, when it crashed: `the server crashed: ...`. */
  crash?: string;
}

/** Where the server listened, when nothing accepted on the port given and the checker looked for it. */
export interface ListenReport {
  /** The port given (the template's 12100 for `grade`, or its `{port}`). */
  expectedPort: number;
  /** The host and port the checks connected to. */
  host: string;
  port: number;
  /** Every listening socket of the server that was seen: `0.0.0.0:12222`. */
  sockets: string[];
}

/** The server could not bind its listening socket. */
export interface BindFailureReport {
  code: 'EADDRNOTAVAIL' | 'EADDRINUSE' | 'EACCES';
  /** The address it asked for, when its output (or its source) says. */
  address?: string;
  port?: number;
  /** In words, with the fix. */
  text: string;
}

export interface StatusCounts {
  passed: number;
  /** Every failure, including those with `causedBy`. */
  failed: number;
  skipped: number;
  notApplicable: number;
}

export interface CheckSummary {
  required: StatusCounts;
  optional: StatusCounts;
  /** The first failed check without `causedBy` (required ones first): the bug to fix first. */
  firstFailure: string | null;
  /** Checks not run because the server stopped accepting connections (a restart would have let them run). */
  needRestart: string[];
  /** The last check that ran before the server stopped accepting connections, if it did. */
  serverGoneAfter: string | null;
  /** Times the checker started the server with `restartCmd`. */
  restarts: number;
  /** False when no connection could be made at all. */
  reachable: boolean;
  /** The run was aborted before every check ran. */
  interrupted: boolean;
  /**
   * Required checks that were skipped for a reason other than the caller's choice (`only`, no
   * `dir`): not run, or run without judging. Such a run is never a pass.
   */
  requiredNotRun: string[];
  /**
   * 0 every required check passed; 1 a required check failed, could not run or could not judge; 3 cannot connect at
   * all.
   */
  exitCode: 0 | 1 | 3;
}

export interface CheckReport {
  target: { host: string; port: number };
  dir: string | null;
  options: { timeoutMs: number; pauseMs: number; quick: boolean; restartCmd: string | null };
  startedAt: string;
  ms: number;
  checks: CheckResult[];
  summary: CheckSummary;
  /** Why no connection could be made, when none could, or why a restart failed. */
  error?: string;
  /** Where the server listened, when that was not the port given. */
  listen?: ListenReport;
  /** The server could not bind its listening socket. */
  bindFailure?: BindFailureReport;
  /** Each start of the server by the checker, in order (with `restartCmd`). */
  serverStarts?: ServerStartReport[];
}

export interface CheckServerOptions {
  host: string;
  port: number;
  /** The server's folder on this machine: enables the checks of k.txt numbering, bytes, restart and overwrite. */
  dir?: string;
  /** A shell command (run with `sh -c`) that starts the server; used whenever it stops accepting connections. */
  restartCmd?: string;
  /**
   * Puts the restart command's argv (`['sh', '-c', restartCmd]`) inside another command (a sandbox,
   * a tracer) at each start (`start`: 1, 2, ...); returns the argv to spawn. Default: as it is.
   */
  wrapServer?: (argv: string[], start: number) => string[];
  /** Longest wait for any answer of the server, per step of a check (default 3000 ms). */
  timeoutMs?: number;
  /** Longest wait for a (re)started server to accept connections (default 10 s). */
  startupMs?: number;
  /**
   * How long a restart that fails because the port is still in use ("address already in use":
   * connections of an earlier run in TIME_WAIT, for a server without SO_REUSEADDR) is tried
   * again before it is reported (default 65 s).
   */
  addrInUseMs?: number;
  /** Pause between the two halves of the template's count (default 1000 ms; 100 ms with `quick`). */
  pauseMs?: number;
  /** Skip the checks beyond the handout and shorten the template pause to 100 ms. */
  quick?: boolean;
  /** Run only these checks (by name); the others are reported as skipped. */
  only?: readonly string[];
  /**
   * The server has the network namespace to itself (and the checker): every listening socket in
   * it is the server's. Otherwise the server's listening sockets are found through its processes.
   */
  ownNetwork?: boolean;
  /** The `port` check (the server listens on the port given) is required, not only reported. */
  requirePort?: boolean;
  /** A file that gets everything the server prints, each start after a line naming it and the check it served. */
  serverLog?: string;
  /** Called with a sentence while the checker waits long for something (a port still in use, a stuck server). */
  onProgress?: (text: string) => void;
  /** Called as each check ends, in order. */
  onResult?: (result: CheckResult) => void;
  /** Aborting it stops the run: the check under way is cut off, the rest are skipped, a started server is stopped. */
  signal?: AbortSignal;
  /**
   * Where the order of the server's own events can be seen (what it stored, when it answered):
   * `stored-before-answer` then judges by order, not by timing. Without it, or where it cannot see
   * a connection, that check reads the folder at the moment each A arrives, and says so.
   */
  order?: OrderSource;
}

/** How one A relates to the storing of its message, as an `OrderSource` saw it. */
export interface AnswerOrder {
  /**
   * `stored-before`: the file was written (or renamed into place) before the A was sent, and not
   * written after it; `written-after`: a write of the file came after the A was sent;
   * `not-written`: no write of the file at all before the A.
   */
  order: 'stored-before' | 'written-after' | 'not-written';
  /** In words: `1.txt written (2 bytes) after A was sent`. */
  detail: string;
}

/** A source of the order of a server's events: A sent on a connection against its files written. */
export interface OrderSource {
  /** What it watches, for reports: `the server's system calls (strace)`. */
  readonly describe: string;
  /**
   * For the connection whose local port on the checker's side is `port`: each A the server sent
   * there, in order, against the storing of the file named in `files` at the same index (the
   * file that held that message afterwards; null when none did). `{ unseen }` says why the order
   * cannot be seen for this connection (then the caller falls back to timing).
   */
  answers(port: number, files: readonly (string | null)[]): Promise<{ answers: AnswerOrder[] } | { unseen: string }>;
}
