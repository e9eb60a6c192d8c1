// The checker for one submission, as a process of its own (so that it can run inside the
// submission's network namespace): `node worker.js '<options as JSON>'` checks the server and
// prints one JSON line, `{"report": ..., "timedOut": bool}`. At `deadlineMs` it stops the checks,
// stops the server and still prints what it has; SIGTERM and SIGINT do the same.
import { checkServer } from '../server-checks.js';
import type { CheckServerOptions } from '../types.js';
import { sandboxWrap, type SandboxSpec } from '../sandbox/index.js';

export interface WorkerOptions extends Omit<CheckServerOptions, 'onResult' | 'signal' | 'wrapServer'> {
  /** Stop the checks after this many ms (the submission's time limit). */
  deadlineMs: number;
  /** The sandbox every start of the server runs in (its `wrapServer`); none when absent. */
  sandbox?: SandboxSpec;
}

export interface WorkerOutput {
  report: Awaited<ReturnType<typeof checkServer>>;
  timedOut: boolean;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as WorkerOptions;
  const { deadlineMs, sandbox, ...checkOptions } = options;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, deadlineMs);
  const stop = (): void => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const report = await checkServer({ ...checkOptions, ...(sandbox ? { wrapServer: sandboxWrap(sandbox) } : {}), signal: controller.signal });
  clearTimeout(timer);
  const output: WorkerOutput = { report, timedOut };
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`linedrop grade: the checker failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
});
