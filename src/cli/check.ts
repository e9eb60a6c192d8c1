// `linedrop check HOST:PORT`: grade any lab server. `linedrop check-client`: grade any lab client.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stat } from 'node:fs/promises';
import { ClientChecker, DEFAULT_QUIET_MS, LAB_PORT, type ClientConnectionReport } from '../check/client-checker.js';
import { checkText, clientReportText, sectionTitle, serverReportHeader, serverReportSummary, style, wantsColour } from '../check/report.js';
import { checkServer, DEFAULT_TIMEOUT_MS, SERVER_CHECKS } from '../check/server-checks.js';
import { ExitCode } from './exit-codes.js';
import type { CliContext } from './main.js';

function whole(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** `host:port`, `[::1]:port`, or a bare port (localhost). */
export function parseTarget(value: string): { host: string; port: number } {
  const text = value.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text) ?? /^()(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:12100 (or [::1]:12100, or just a port)');
  }
  return { host: m[1] || 'localhost', port };
}

function checkNames(value: string): string[] {
  const names = value.split(',').map((n) => n.trim()).filter(Boolean);
  const known = new Set(SERVER_CHECKS.map((c) => c.name));
  const unknown = names.filter((n) => !known.has(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`unknown check ${unknown.join(', ') || '(none given)'}; the checks are ${[...known].join(', ')}`);
  }
  return names;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

const CHECK_LIST = SERVER_CHECKS.map((c) => `  ${c.name.padEnd(20)} ${c.required ? '' : '(optional) '}${c.needsDir ? '(needs --dir) ' : ''}${c.title}`).join('\n');

/** The shell's status for a run stopped by Ctrl-C. */
const INTERRUPTED = 130;

export function registerCheckCommands(program: Command, context: CliContext): void {
  const { io } = context;

  program
    .command('check')
    .summary('Grade a lab server (any language) against every rule of the handout')
    .description(
      'Grade a lab server (any language) against the handout: each rule is a named check that says what ' +
        'it sent, what it expected and what it saw. Checks beyond the handout are reported but never fail. ' +
        'Each check uses its own connection; a server that exits after one connection needs --restart-cmd.',
    )
    .argument('<host:port>', 'the server to check, e.g. 127.0.0.1:12100', parseTarget)
    .addOption(new Option('-d, --dir <dir>', "the server's folder on this machine: also check k.txt numbering, exact bytes, restart and overwrite"))
    .addOption(new Option('--restart-cmd <command>', 'shell command that starts the server; run (sh -c) whenever it stops accepting connections, stopped at the end'))
    .addOption(new Option('--timeout <ms>', 'longest wait for each answer of the server').default(DEFAULT_TIMEOUT_MS).argParser(whole(100, 600_000)))
    .addOption(new Option('--quick', 'skip the checks beyond the handout; pause 100 ms (not 1 s) in the template-timing check'))
    .addOption(new Option('--only <names>', 'run only these checks (comma-separated names)').argParser(checkNames))
    .addOption(new Option('--json', 'print one JSON object (checks and summary) instead of the report'))
    .addHelpText(
      'after',
      `\nChecks, in the order they run:\n${CHECK_LIST}\n\n` +
        'Exit status: 0 every required check passed, 1 a required check failed or could not run (the server\n' +
        'needs a restart), 2 usage error, 3 cannot connect at all.',
    )
    .action(async (target: { host: string; port: number }, opts: { dir?: string; restartCmd?: string; timeout: number; quick?: boolean; only?: string[]; json?: boolean }) => {
      if (opts.dir !== undefined && !(await isDirectory(opts.dir))) {
        io.stderr.write(`linedrop check: --dir ${opts.dir}: not a folder\n`);
        context.setExitCode(ExitCode.Usage);
        return;
      }
      const s = style(!opts.json && wantsColour(io.stdout));
      const where = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
      let section: boolean | undefined;
      if (!opts.json) io.stdout.write(serverReportHeader(where, opts.dir, s));
      // Ctrl-C: stop at once, and stop the server the checker started (it runs in its own process group).
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const report = await checkServer({
        signal: controller.signal,
        host: target.host,
        port: target.port,
        timeoutMs: opts.timeout,
        quick: opts.quick === true,
        ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
        ...(opts.restartCmd !== undefined ? { restartCmd: opts.restartCmd } : {}),
        ...(opts.only ? { only: opts.only } : {}),
        onResult: (r) => {
          if (opts.json) return;
          if (r.required !== section) {
            section = r.required;
            io.stdout.write(sectionTitle(r.required, s));
          }
          io.stdout.write(checkText(r, s));
        },
      });
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : serverReportSummary(report, s));
      context.setExitCode(controller.signal.aborted ? INTERRUPTED : report.summary.exitCode);
    });

  program
    .command('check-client')
    .summary('Grade a lab client: a strict lab server that reports every deviation')
    .description(
      'Grade a lab client: listen as a strict lab server, record exactly what each client sends (byte ' +
        'offsets, timing), save its files, answer A and Q, and report every deviation from the protocol. ' +
        'The first line printed is "listening on HOST:PORT" (useful with --port 0).',
    )
    .addOption(new Option('-p, --port <port>', 'TCP port to listen on (0: any free port)').default(LAB_PORT).argParser(whole(0, 65535)))
    .addOption(new Option('-H, --host <host>', 'address to listen on (default: all interfaces)'))
    .addOption(new Option('-d, --dir <dir>', 'save each message as k.txt in this folder (default: save nothing)'))
    .addOption(new Option('--quiet-ms <ms>', 'silence inside a message that counts as the client having stopped (raise it for lines typed by hand)').default(DEFAULT_QUIET_MS).argParser(whole(1, 3_600_000)))
    .addOption(new Option('--once', 'exit after the first connection: status 0 with no deviation, 1 otherwise'))
    .addOption(new Option('--json', 'print JSON lines: {"type":"listening",...}, then one {"type":"connection",...} per connection'))
    .addHelpText(
      'after',
      '\nDeviations: count-mismatch, missing-newline, partial-count, implausible-count, bytes-after-quit,\n' +
        'no-quit, protocol-error. Without --once it runs until interrupted (Ctrl-C), then exits 0 if no\n' +
        'connection had a deviation, 1 otherwise. Exit status 3: cannot listen.',
    )
    .action(async (opts: { port: number; host?: string; dir?: string; quietMs: number; once?: boolean; json?: boolean }) => {
      const s = style(!opts.json && wantsColour(io.stdout));
      const checker = new ClientChecker({ quietMs: opts.quietMs, ...(opts.dir !== undefined ? { dir: opts.dir } : {}) });
      let address;
      try {
        address = await checker.listen(opts.port, opts.host, { once: opts.once === true });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        io.stderr.write(`linedrop check-client: cannot listen on ${opts.host ?? '*'}:${opts.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}\n`);
        context.setExitCode(ExitCode.CannotConnect);
        return;
      }
      const where = address.address.includes(':') ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
      if (opts.json) {
        io.stdout.write(`${JSON.stringify({ type: 'listening', host: address.address, port: address.port })}\n`);
        io.stderr.write(`listening on ${where}\n`);
      } else {
        io.stdout.write(`listening on ${where}\n`);
      }
      let deviations = 0;
      const print = (report: ClientConnectionReport): void => {
        deviations += report.deviations.length;
        io.stdout.write(opts.json ? `${JSON.stringify({ type: 'connection', ...report })}\n` : `\n${clientReportText(report, s)}`);
      };
      if (opts.once) {
        print(await checker.nextReport());
        await checker.close();
      } else {
        checker.on('report', print);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void checker.close().then(() => resolve());
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }
      context.setExitCode(deviations === 0 ? ExitCode.Ok : ExitCode.SomeRejected);
    });
}
