// `linedrop check-client`: grade any lab client.
import { Option, type Command } from 'commander';
import { ClientChecker, DEFAULT_QUIET_MS, LAB_PORT, type ClientConnectionReport } from '../../check/client-checker.js';
import { style, wantsColour } from '../../check/reporters/colour.js';
import { clientReportText } from '../../check/reporters/text.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { wholeNumber } from '../flags.js';

export function register(program: Command, context: CliContext): void {
  const { io } = context;

  program
    .command('check-client')
    .summary('Grade a lab client: a strict lab server that reports every deviation')
    .description(
      'Grade a lab client: listen as a strict lab server, record exactly what each client sends (byte ' +
        'offsets, timing), save its files, answer A and Q, and report every deviation from the protocol. ' +
        'The first line printed is "listening on HOST:PORT" (useful with --port 0).',
    )
    .addOption(new Option('-p, --port <port>', 'TCP port to listen on (0: any free port)').default(LAB_PORT).argParser(wholeNumber(0, 65535)))
    .addOption(new Option('-H, --host <host>', 'address to listen on (default: all interfaces)'))
    .addOption(new Option('-d, --dir <dir>', 'save each message as k.txt in this folder (default: save nothing)'))
    .addOption(new Option('--quiet-ms <ms>', 'silence inside a message that counts as the client having stopped (raise it for lines typed by hand)').default(DEFAULT_QUIET_MS).argParser(wholeNumber(1, 3_600_000)))
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
