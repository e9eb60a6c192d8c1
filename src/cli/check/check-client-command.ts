// `linedrop check-client`: grade any lab client.
import { Option, type Command } from 'commander';
import type { ClientConnectionReport } from '../../check/client-report.js';
import { DEFAULT_PORT, formatAddress } from '../../net-address.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { duration, lateDefault, wholeNumber } from '../flags.js';
import { formatDuration } from '../../text.js';

export function register(program: Command, context: CliContext): void {
  const { io } = context;

  const command = program
    .command('check-client')
    .summary('Grade a lab client: a strict lab server that reports every deviation')
    .description(
      'Grade a lab client: listen as a strict lab server, record exactly what each client sends (byte ' +
        'offsets, timing), save its files, answer A and Q, and report every deviation from the protocol. ' +
        'The first line printed is "listening on HOST:PORT" (useful with --port 0).',
    )
    .addOption(
      new Option('-p, --port <port>', 'TCP port to listen on (0: any free port)')
        .default(DEFAULT_PORT)
        .argParser(wholeNumber(0, 65535)),
    )
    .addOption(new Option('-H, --host <host>', 'address to listen on (default: all interfaces)'))
    .addOption(new Option('-d, --dir <dir>', 'save each message as k.txt in this folder (default: save nothing)'))
    .addOption(
      new Option(
        '--quiet-ms <duration>',
        "silence inside a message that counts as the client having stopped, at a program's pace " +
          '(500ms, 30s, ...; a bare number is in milliseconds)',
      ).argParser(duration('ms', 1, 3_600_000)),
    )
    .addOption(
      new Option(
        '--typing-ms <duration>',
        'silence allowed inside a message whose lines are typed by hand (a pause of 400 ms or more ' +
          'before a line), or that has no byte after its count yet (5m, 90s, ...; a bare number is in milliseconds)',
      ).argParser(duration('ms', 1, 86_400_000)),
    )
    .addOption(new Option('--once', 'exit after the first connection: status 0 with no deviation, 1 otherwise'))
    .addOption(
      new Option(
        '--json',
        'print JSON lines: {"type":"listening",...}, then one {"type":"connection",...} per connection',
      ),
    )
    .addHelpText(
      'after',
      '\nDeviations: count-mismatch, missing-newline, partial-count, implausible-count, bytes-after-quit,\n' +
        'no-quit, protocol-error. Without --once it runs until interrupted (Ctrl-C), then exits 0 if no\n' +
        'connection had a deviation, 1 otherwise. Exit status 3: cannot listen.',
    )
    .action(
      async (opts: {
        port: number;
        host?: string;
        dir?: string;
        quietMs: number;
        typingMs?: number;
        once?: boolean;
        json?: boolean;
      }) => {
        const { ClientChecker } = await import('../../check/client-checker.js');
        const { style, wantsColour } = await import('../../check/reporters/colour.js');
        const { clientReportText } = await import('../../check/reporters/text.js');
        const s = style(!opts.json && wantsColour(io.stdout));
        const checker = new ClientChecker({
          quietMs: opts.quietMs,
          ...(opts.typingMs !== undefined ? { typingMs: opts.typingMs } : {}),
          ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
        });
        checker.on('waiting', ({ connection, text }) => io.stderr.write(`connection ${connection}: ${text}\n`));
        let address;
        try {
          address = await checker.listen(opts.port, opts.host, { once: opts.once === true });
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          io.stderr.write(
            `linedrop check-client: cannot listen on ${formatAddress(opts.host ?? '*', opts.port)}: ` +
              `${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}\n`,
          );
          context.setExitCode(ExitCode.CannotConnect);
          return;
        }
        const where = formatAddress(address.address, address.port);
        if (opts.json) {
          io.stdout.write(`${JSON.stringify({ type: 'listening', host: address.address, port: address.port })}\n`);
          io.stderr.write(`listening on ${where}\n`);
        } else {
          io.stdout.write(`listening on ${where}\n`);
        }
        let deviations = 0;
        const print = (report: ClientConnectionReport): void => {
          deviations += report.deviations.length;
          io.stdout.write(
            opts.json ? `${JSON.stringify({ type: 'connection', ...report })}\n` : `\n${clientReportText(report, s)}`,
          );
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
      },
    );

  context.whenUsed(command, async () => {
    const { DEFAULT_QUIET_MS, DEFAULT_TYPING_MS } = await import('../../check/client-session.js');
    lateDefault(command, '--quiet-ms', DEFAULT_QUIET_MS, formatDuration(DEFAULT_QUIET_MS));
    lateDefault(command, '--typing-ms', DEFAULT_TYPING_MS, formatDuration(DEFAULT_TYPING_MS));
  });
}
