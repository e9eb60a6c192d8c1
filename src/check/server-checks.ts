// `checkServer`: runs every check against a server, one after another, and makes the report.
// The engine (connections, restarts, the process tree) is in engine.ts; the checks in checks/.
import { mkdir } from 'node:fs/promises';
import { CHECKS } from './checks/index.js';
import { Conversation } from './conversation.js';
import { crashText, findCrash } from './crash.js';
import {
  CheckCancelledError,
  isRequired,
  Run,
  Scope,
  ServerUnreachableError,
  type CheckDef,
  type Outcome,
} from './engine.js';
import type { ServerStart } from './restart.js';
import type {
  CheckReport,
  CheckResult,
  CheckServerOptions,
  CheckStatus,
  ServerCrash,
  ServerStartReport,
  SkipReason,
  StatusCounts,
} from './types.js';
import { sleep } from '../text.js';
import { formatAddress } from '../net-address.js';

/** The checks `checkServer` runs, in order. */
export const SERVER_CHECKS: readonly { name: string; title: string; required: boolean; needsDir: boolean }[] =
  CHECKS.map((c) => ({
    name: c.name,
    title: c.title,
    required: c.required,
    needsDir: c.needsDir === true,
  }));

const SKIP_TEXT: Record<SkipReason, string> = {
  'needs-dir': 'not run: needs the server folder (--dir)',
  unreachable: 'not run (server not reachable; needs a restart)',
  'not-selected': 'not run: not selected',
  quick: 'not run: beyond the handout, left out by --quick',
  'not-judged': 'not judged',
  interrupted: 'not run: the run was interrupted',
};

export function skipText(reason: SkipReason): string {
  return SKIP_TEXT[reason];
}

/** A generous hard limit for one check: every wait is bounded by the timeout, this only guards against surprises. */
function hardLimit(run: Run): number {
  return run.timeoutMs * 8 + run.pauseMs * 2 + run.startupMs + run.addrInUseMs + 5000;
}

/**
 * Checks a server written by anyone against the handout's rules (and, reported separately,
 * robustness beyond them). Each check uses its own connection(s). Never throws for what the
 * server does; the report says it.
 */
export async function checkServer(options: CheckServerOptions): Promise<CheckReport> {
  const started = Date.now();
  const run = new Run(options);
  const only = options.only ? new Set(options.only) : undefined;
  if (only) {
    const unknown = [...only].filter((n) => !CHECKS.some((c) => c.name === n));
    if (unknown.length > 0)
      throw new RangeError(
        `unknown check(s): ${unknown.join(', ')}; the checks are ${CHECKS.map((c) => c.name).join(', ')}`,
      );
  }
  // The server writes into the folder: it may not exist yet.
  if (options.dir !== undefined) await mkdir(options.dir, { recursive: true });
  const results: CheckResult[] = [];
  /** The first check that failed with each fault: the cause of later failures with the same fault. */
  const firstWithFault = new Map<string, string>();
  let gone = false;
  let lastRan: string | null = null;
  let serverGoneAfter: string | null = null;
  let error: string | undefined;

  const emit = (def: CheckDef, outcome: Outcome, connections: number, ms: number, talk?: Conversation): void => {
    let causedBy = outcome.causedBy;
    if (outcome.status === 'fail' && outcome.fault !== undefined) {
      const first = firstWithFault.get(outcome.fault);
      if (first === undefined) firstWithFault.set(outcome.fault, def.name);
      else causedBy ??= first;
    }
    const result: CheckResult = {
      name: def.name,
      title: def.title,
      required: isRequired(def, options),
      status: outcome.status,
      ...(outcome.skipReason ? { skipReason: outcome.skipReason } : {}),
      ...(causedBy !== undefined ? { causedBy } : {}),
      sent: outcome.sent,
      expected: outcome.expected,
      seen: outcome.seen,
      notes: [
        ...(causedBy !== undefined ? [`this follows from the failure of ${causedBy}: fix that first`] : []),
        ...(outcome.notes ?? []),
      ],
      connections,
      ms,
      conversation: talk?.events ?? [],
      ...(outcome.crash ? { crash: outcome.crash } : {}),
      ...(outcome.evidence ? { evidence: outcome.evidence } : {}),
    };
    results.push(result);
    options.onResult?.(result);
  };
  const skip = (def: CheckDef, reason: SkipReason): void =>
    emit(def, { status: 'skip', skipReason: reason, sent: 'nothing', expected: '-', seen: SKIP_TEXT[reason] }, 0, 0);

  let current: Scope | undefined;
  const interrupt = (): void => {
    if (current) {
      current.cancelled = true;
      current.close();
    }
    void run.proc?.stop();
  };
  options.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    for (const def of CHECKS) {
      if (options.signal?.aborted) skip(def, 'interrupted');
      else if (only && !only.has(def.name)) skip(def, 'not-selected');
      else if (options.quick && !isRequired(def, options) && !def.passive) skip(def, 'quick');
      else if (def.needsDir && options.dir === undefined) skip(def, 'needs-dir');
      else if (gone && !(def.passive && run.connectedOnce)) skip(def, 'unreachable');
      else {
        const t0 = Date.now();
        let outcome: Outcome | undefined;
        let connections = 0;
        const talk = new Conversation();
        for (let attempt = 0; attempt < 2; attempt++) {
          if (attempt > 0)
            talk.note('the first connection was closed before the server sent a byte: the check runs once more');
          const scope = new Scope(run, talk, def.name);
          current = scope;
          try {
            outcome = await capped(def.run(scope), hardLimit(run), scope, options.signal);
          } catch (e) {
            if (e instanceof ServerUnreachableError) {
              outcome = undefined;
              gone = true;
              if (!run.connectedOnce) error = e.message;
              else {
                serverGoneAfter ??= lastRan;
                // A restart was tried and failed: say why.
                if (run.proc) error = e.message;
              }
            } else if (e instanceof CheckCancelledError || options.signal?.aborted) {
              outcome = options.signal?.aborted
                ? undefined
                : {
                    status: 'fail',
                    sent: 'see the check',
                    expected: 'the check to finish',
                    seen: `the check did not finish within ${hardLimit(run)} ms`,
                  };
            } else {
              throw e;
            }
          } finally {
            scope.close();
            connections += scope.wires.length;
          }
          if (outcome && !options.signal?.aborted) await afterCheck(run, outcome, talk);
          // The server closed the check's first connection before sending a byte: it may have been
          // on its way out after the previous check (a one-connection server still finishing).
          // Try once more, on a new connection (restarting the server if it is gone and can be).
          // A crash explains the silence: the check is not run again.
          if (
            outcome?.status === 'fail' &&
            scope.silentlyClosed &&
            attempt === 0 &&
            outcome.fault !== 'stuck' &&
            !outcome.crash
          ) {
            await sleep(200);
            continue;
          }
          break;
        }
        current = undefined;
        if (run.stuck !== undefined) {
          // Stuck, and the checker cannot restart it: no later check could reach a live server.
          gone = true;
          serverGoneAfter ??= def.name;
          error = `${run.stuck}; restart the server (or give --restart-cmd) to run the remaining checks`;
          run.stuck = undefined;
        }
        if (options.signal?.aborted) skip(def, 'interrupted');
        else if (outcome) {
          emit(def, outcome, connections, Date.now() - t0, talk);
          lastRan = def.name;
        } else {
          skip(def, 'unreachable');
        }
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
    await run.proc?.stop();
  }
  return makeReport(options, run, results, started, { serverGoneAfter, error });
}

/**
 * After a check: a server that should have exited but still runs is stopped, and a crash of the
 * server the checker started, during this check, is reported by it (and becomes the fault that
 * links the failures it causes).
 */
async function afterCheck(run: Run, outcome: Outcome, talk: Conversation): Promise<void> {
  const proc = run.proc;
  const note = await run.settleServer();
  if (note) {
    talk.note(note);
    (outcome.notes ??= []).push(note);
  }
  const start = proc?.current;
  if (!proc?.started || !start || proc.running || start.stopped || crashReported.has(start)) return;
  const exit = (await proc.exitText()) ?? start.exit;
  if (exit === undefined) return;
  const found = findCrash(start.output, exit);
  if (!found) return;
  crashReported.add(start);
  const crash: ServerCrash = {
    text: crashText(found),
    error: found.error,
    ...(found.where ? { where: found.where } : {}),
    exit,
    start: start.start,
  };
  talk.note(`${crash.text} (its command ${exit})`);
  outcome.crash = crash;
  if (outcome.status === 'fail') {
    outcome.seen = `${crash.text}; ${outcome.seen}`;
    outcome.fault = `crash: ${found.error}`;
  } else {
    (outcome.notes ??= []).push(`${crash.text} (its command ${exit}), though what this check looks at was right`);
  }
}

/** The starts whose crash a check has reported already (a start is reported by one check only). */
const crashReported = new WeakSet<object>();

function makeReport(
  options: CheckServerOptions,
  run: Run,
  results: CheckResult[],
  started: number,
  end: { serverGoneAfter: string | null; error: string | undefined },
): CheckReport {
  const count = (required: boolean, status: CheckStatus): number =>
    results.filter((r) => r.required === required && r.status === status).length;
  const counts = (required: boolean): StatusCounts => ({
    passed: count(required, 'pass'),
    failed: count(required, 'fail'),
    skipped: count(required, 'skip'),
    notApplicable: count(required, 'not-applicable'),
  });
  const roots = [...results.filter((r) => r.required), ...results.filter((r) => !r.required)];
  const firstFailure = roots.find((r) => r.status === 'fail' && r.causedBy === undefined);
  const needRestart = results.filter((r) => r.skipReason === 'unreachable').map((r) => r.name);
  const requiredFailed = count(true, 'fail');
  const reachable = run.connectedOnce || needRestart.length === 0;
  const interrupted = results.some((r) => r.skipReason === 'interrupted');
  // Left out by the caller (`only`, no folder) is a choice; any other skip of a required check means it was not passed.
  const requiredNotRun = results
    .filter((r) => r.required && r.status === 'skip' && r.skipReason !== 'not-selected' && r.skipReason !== 'needs-dir')
    .map((r) => r.name);
  const exitCode: 0 | 1 | 3 = !reachable ? 3 : requiredFailed > 0 || requiredNotRun.length > 0 ? 1 : 0;
  const report: CheckReport = {
    target: { host: options.host, port: options.port },
    dir: options.dir ?? null,
    options: {
      timeoutMs: run.timeoutMs,
      pauseMs: run.pauseMs,
      quick: options.quick === true,
      restartCmd: options.restartCmd ?? null,
    },
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
    checks: results,
    summary: {
      required: counts(true),
      optional: counts(false),
      firstFailure: firstFailure?.name ?? null,
      needRestart,
      serverGoneAfter: run.connectedOnce ? end.serverGoneAfter : null,
      restarts: run.proc?.starts ?? 0,
      reachable,
      interrupted,
      requiredNotRun,
      exitCode,
    },
  };
  if (end.error !== undefined) report.error = end.error;
  if (run.listening)
    report.listen = {
      expectedPort: options.port,
      host: run.target.host,
      port: run.target.port,
      sockets: run.listening,
    };
  if (run.bindFailure) report.bindFailure = { ...run.bindFailure };
  if (run.proc) report.serverStarts = run.proc.runs.map((r) => startReport(r));
  else if (!reachable && run.lastConnectError)
    report.error = `cannot connect to ${formatAddress(options.host, options.port)} (${run.lastConnectError})`;
  return report;
}

function startReport(r: ServerStart): ServerStartReport {
  const found = r.exit !== undefined && !r.stopped ? findCrash(r.output, r.exit) : undefined;
  return {
    start: r.start,
    checks: [...r.checks],
    output: r.output,
    bytes: r.bytes,
    exit: r.exit ?? null,
    stoppedByChecker: r.stopped,
    ...(found ? { crash: crashText(found) } : {}),
  };
}

async function capped(
  work: Promise<Outcome>,
  ms: number,
  scope: Scope,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    const stop = (why: string): void => {
      scope.cancelled = true;
      scope.close();
      reject(new CheckCancelledError(why));
    };
    timer = setTimeout(() => stop(`over ${ms} ms`), ms);
    onAbort = () => stop('interrupted');
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // A check that was cut off may still be winding down: its rejection is not needed.
    work.catch(() => undefined);
  }
}
