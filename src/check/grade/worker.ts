// The checker for one submission, as a process of its own (so that it can run inside the
// submission's network namespace): `node worker.js '<options as JSON>'` checks the server and
// prints one JSON line, `{"report": ..., "timedOut": bool}`. At `deadlineMs` it stops the checks,
// stops the server and still prints what it has; SIGTERM and SIGINT do the same.
import { checkServer } from '../server-checks.js';
import type { CheckServerOptions } from '../types.js';
import { sandboxWrap, type SandboxSpec } from '../sandbox/index.js';
import { startTracer } from '../trace/index.js';

export interface WorkerOptions extends Omit<CheckServerOptions, 'onResult' | 'signal' | 'wrapServer' | 'order'> {
  /** Stop the checks after this many ms (the submission's time limit). */
  deadlineMs: number;
  /** The sandbox every start of the server runs in (its `wrapServer`); none when absent. */
  sandbox?: SandboxSpec;
  /** Run the server under strace (where it works), so that A's order is seen, not timed. */
  trace?: boolean;
}

export interface WorkerOutput {
  report: Awaited<ReturnType<typeof checkServer>>;
  timedOut: boolean;
  /** With `trace`: why the server could not be traced (A's order was then judged by timing only). */
  traceProblem?: string;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as WorkerOptions;
  const { deadlineMs, sandbox, trace, ...checkOptions } = options;
  const tracer = trace ? await startTracer() : undefined;
  const traced = tracer && 'tracer' in tracer ? tracer.tracer : undefined;
  const sandboxed = sandbox ? sandboxWrap(sandbox) : undefined;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, deadlineMs);
  const stop = (): void => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The tracer is the outermost wrap (around the sandbox): the server cannot reach its trace files.
  const wrapServer = traced
    ? (argv: string[], start: number): string[] => traced.wrap(sandboxed ? sandboxed(argv, start) : argv, start)
    : sandboxed;
  const report = await checkServer({
    ...checkOptions,
    ...(wrapServer ? { wrapServer } : {}),
    ...(traced ? { order: traced } : {}),
    signal: controller.signal,
  });
  clearTimeout(timer);
  await traced?.close();
  const output: WorkerOutput = {
    report,
    timedOut,
    ...(tracer && 'problem' in tracer ? { traceProblem: tracer.problem } : {}),
  };
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(
    `linedrop grade: the checker failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(70);
});
