// The checker for one submission, as a process of its own (so that it can run inside the
// submission's network namespace): `node worker.js '<options as JSON>'` checks the server and
// prints one JSON line, `{"report": ..., "timedOut": bool}`. At `deadlineMs` it stops the checks,
// stops the server and still prints what it has; SIGTERM and SIGINT do the same.
import { checkServer } from '../server-checks.js';
import type { CheckServerOptions } from '../types.js';

export interface WorkerOptions extends Omit<CheckServerOptions, 'onResult' | 'signal'> {
  /** Stop the checks after this many ms (the submission's time limit). */
  deadlineMs: number;
}

export interface WorkerOutput {
  report: Awaited<ReturnType<typeof checkServer>>;
  timedOut: boolean;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as WorkerOptions;
  const { deadlineMs, ...checkOptions } = options;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, deadlineMs);
  const stop = (): void => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const report = await checkServer({ ...checkOptions, signal: controller.signal });
  clearTimeout(timer);
  const output: WorkerOutput = { report, timedOut };
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`linedrop grade: the checker failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
});
