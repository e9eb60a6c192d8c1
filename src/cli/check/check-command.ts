// `linedrop check HOST:PORT`: grade any lab server.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { dirname } from 'node:path';
import { formatAddress } from '../../net-address.js';
import { formatDuration } from '../../text.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { duration, lateDefault, target } from '../flags.js';
import { addSandboxOptions, limitsOf, sandboxDefaults, type SandboxFlags } from '../sandbox-flags.js';

/** The checkers: loaded only when `check` runs or shows its help. */
let checkers: typeof import('../../check/server-checks.js') | undefined;

function checkNames(value: string): string[] {
  const names = value
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const known = new Set((checkers?.SERVER_CHECKS ?? []).map((c) => c.name));
  const unknown = names.filter((n) => !known.has(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown check ${unknown.join(', ') || '(none given)'}; the checks are ${[...known].join(', ')}`,
    );
  }
  return names;
}

/** Makes sure `path` is a folder, creating it (and its parents) when it does not exist; returns why not otherwise. */
async function ensureFolder(path: string): Promise<string | undefined> {
  const { mkdir, stat } = await import('node:fs/promises');
  try {
    if ((await stat(path)).isDirectory()) return undefined;
    return 'not a folder (it is a file); give the folder the server writes into';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return (e as Error).message;
  }
  try {
    await mkdir(path, { recursive: true });
    return undefined;
  } catch (e) {
    return `cannot create it: ${(e as Error).message}`;
  }
}

function checkList(checks: typeof import('../../check/server-checks.js')['SERVER_CHECKS']): string {
  return checks
    .map(
      (c) => `  ${c.name.padEnd(20)} ${c.required ? '' : '(optional) '}${c.needsDir ? '(needs --dir) ' : ''}${c.title}`,
    )
    .join('\n');
}

/**
 * The sandbox for `--restart-cmd`: the current folder and --dir writable, the homes hidden (but
 * those two), the limits of the flags; or why none can be made.
 */
async function checkSandbox(
  opts: SandboxFlags & { dir?: string },
): Promise<((argv: string[], start: number) => string[]) | string> {
  const { resolve } = await import('node:path');
  const { findSandbox, NoSandboxError, sandboxWrap } = await import('../../check/sandbox/index.js');
  try {
    const bwrap = await findSandbox(opts.sandbox);
    if (bwrap === null) return (argv) => argv;
    const writable = [...new Set([process.cwd(), ...(opts.dir !== undefined ? [resolve(opts.dir)] : [])])];
    return sandboxWrap({ kind: 'bwrap', bwrap, writable, writableFiles: [], hidden: [], limits: limitsOf(opts) });
  } catch (e) {
    if (e instanceof NoSandboxError) return e.message;
    throw e;
  }
}

/** The shell's status for a run stopped by Ctrl-C. */
const INTERRUPTED = 130;

export function register(program: Command, context: CliContext): void {
  const { io } = context;

  const command = program
    .command('check')
    .summary('Grade a lab server (any language) against every rule of the handout')
    .description(
      'Grade a lab server (any language) against the handout: each rule is a named check that says what ' +
        'it sent, what it expected and what it saw. Checks beyond the handout are reported but never fail. ' +
        'Each check uses its own connection; a server that exits after one connection needs --restart-cmd.',
    )
    .argument('<host:port>', 'the server to check, e.g. 127.0.0.1:12100', target)
    .addOption(
      new Option(
        '-d, --dir <dir>',
        "the server's folder on this machine (created if missing): also check k.txt numbering, " +
          'exact bytes, restart, overwrite, A after storing',
      ),
    )
    .addOption(
      new Option(
        '--restart-cmd <command>',
        'shell command that starts the server; run (sh -c) ' +
          'whenever it stops accepting connections, stopped at the end',
      ),
    )
    .addOption(
      new Option(
        '--timeout <duration>',
        'longest wait for each answer of the server (500ms, 5s, ...; a bare number is in milliseconds)',
      ).argParser(duration('ms', 100, 600_000)),
    )
    .addOption(
      new Option('--quick', 'skip the checks beyond the handout; pause 100 ms (not 1 s) in the template-timing check'),
    )
    .addOption(new Option('--only <names>', 'run only these checks (comma-separated names)').argParser(checkNames))
    .addOption(
      new Option(
        '--require-port',
        'with --restart-cmd: a server found listening on another port ' +
          'than the one given fails the port check, now required',
      ),
    )
    .addOption(
      new Option(
        '--no-trace',
        "with --restart-cmd: do not run the server under strace (A's order " +
          'against the storing of k.txt is then judged by timing only)',
      ),
    )
    .addOption(new Option('--json', 'print one JSON object (checks and summary) instead of the report'))
    .addOption(
      new Option(
        '--gradescope <file>',
        "also write Gradescope's autograder results.json " +
          'there: a test per check, a point per required check passed',
      ),
    )
    .addOption(
      new Option(
        '--points <file>',
        'with --gradescope: a JSON file of points per check, e.g. {"content": 3, "quit": 1} (as grade --points)',
      ),
    );
  addSandboxOptions(command, 'none', 'start the --restart-cmd server');
  command.action(
    async (
      target: { host: string; port: number },
      opts: SandboxFlags & {
        dir?: string;
        restartCmd?: string;
        trace: boolean;
        timeout: number;
        quick?: boolean;
        only?: string[];
        json?: boolean;
        gradescope?: string;
        requirePort?: boolean;
        points?: string;
      },
    ) => {
      const { checkServer } = checkers ?? (await import('../../check/server-checks.js'));
      const { style, wantsColour } = await import('../../check/reporters/colour.js');
      const { checkText, sectionTitle, serverReportHeader, serverReportSummary } = await import(
        '../../check/reporters/text.js'
      );
      const dirProblem = opts.dir === undefined ? undefined : await ensureFolder(opts.dir);
      if (dirProblem !== undefined) {
        io.stderr.write(`linedrop check: --dir ${opts.dir}: ${dirProblem}\n`);
        context.setExitCode(ExitCode.Usage);
        return;
      }
      let points: Readonly<Record<string, number>> | undefined;
      if (opts.points !== undefined) {
        const { BadPointsError, readPoints } = await import('../../check/grade/points.js');
        const { SERVER_CHECKS } = await import('../../check/server-checks.js');
        try {
          points = await readPoints(opts.points, SERVER_CHECKS);
        } catch (e) {
          if (!(e instanceof BadPointsError)) throw e;
          io.stderr.write(`linedrop check: ${e.message}\n`);
          context.setExitCode(ExitCode.Usage);
          return;
        }
      }
      let wrapServer: ((argv: string[], start: number) => string[]) | undefined;
      if (opts.sandbox !== 'none' && opts.restartCmd !== undefined) {
        const sandbox = await checkSandbox(opts);
        if (typeof sandbox === 'string') {
          io.stderr.write(`linedrop check: ${sandbox}\n`);
          context.setExitCode(ExitCode.CannotConnect);
          return;
        }
        wrapServer = sandbox;
      }
      const s = style(!opts.json && wantsColour(io.stdout));
      const where = formatAddress(target.host, target.port);
      let section: boolean | undefined;
      if (!opts.json) io.stdout.write(serverReportHeader(where, opts.dir, s));
      // Ctrl-C: stop at once, and stop the server the checker started (it runs in its own process group).
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      // A server the checker starts runs under strace (where it works): A's order is then seen, not timed.
      // The tracer is the outer wrap, around the sandbox.
      const { startTracer } = await import('../../check/trace/index.js');
      const tracer =
        opts.restartCmd !== undefined && opts.trace !== false && opts.dir !== undefined
          ? await startTracer()
          : undefined;
      if (tracer && 'problem' in tracer)
        io.stderr.write(`linedrop check: ${tracer.problem}; A's order is judged by timing only\n`);
      const traced = tracer && 'tracer' in tracer ? tracer.tracer : undefined;
      const sandboxed = wrapServer;
      if (traced) wrapServer = (argv, start) => traced.wrap(sandboxed ? sandboxed(argv, start) : argv, start);
      const report = await checkServer({
        signal: controller.signal,
        host: target.host,
        port: target.port,
        timeoutMs: opts.timeout,
        quick: opts.quick === true,
        ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
        ...(opts.restartCmd !== undefined ? { restartCmd: opts.restartCmd } : {}),
        ...(wrapServer ? { wrapServer } : {}),
        ...(traced ? { order: traced } : {}),
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.requirePort ? { requirePort: true } : {}),
        onProgress: (text) => io.stderr.write(`linedrop check: ${text}\n`),
        onResult: (r) => {
          if (opts.json) return;
          if (r.required !== section) {
            section = r.required;
            io.stdout.write(sectionTitle(r.required, s));
          }
          io.stdout.write(checkText(r, s));
        },
      });
      await traced?.close();
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : serverReportSummary(report, s));
      context.setExitCode(controller.signal.aborted ? INTERRUPTED : report.summary.exitCode);
      if (opts.gradescope !== undefined) {
        try {
          const { mkdir, writeFile } = await import('node:fs/promises');
          await mkdir(dirname(opts.gradescope), { recursive: true });
          const { gradescopeJson } = await import('../../check/reporters/gradescope.js');
          await writeFile(opts.gradescope, gradescopeJson(report, points ? { checkPoints: points } : {}));
        } catch (e) {
          io.stderr.write(
            `linedrop check: cannot write the Gradescope results to ${opts.gradescope}: ${(e as Error).message}\n`,
          );
          context.setExitCode(ExitCode.Usage);
        }
      }
    },
  );

  context.whenUsed(command, async () => {
    checkers = await import('../../check/server-checks.js');
    const { SERVER_CHECKS } = checkers;
    const { DEFAULT_CHECK_TIMEOUT_MS } = await import('../../check/engine.js');
    lateDefault(command, '--timeout', DEFAULT_CHECK_TIMEOUT_MS, formatDuration(DEFAULT_CHECK_TIMEOUT_MS));
    await sandboxDefaults(command);
    command.addHelpText(
      'after',
      `\nChecks, in the order they run:\n${checkList(SERVER_CHECKS)}\n\n` +
        'Exit status: 0 every required check passed, 1 a required check failed or could not run (the server\n' +
        'needs a restart), 2 usage error (or the --gradescope file cannot be written), 3 cannot connect at all\n' +
        '(or --sandbox asked for a sandbox that cannot be made here), 130 interrupted.',
    );
  });
}
