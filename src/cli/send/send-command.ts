// `linedrop send [files...]`: send files, or with none the lab client's interactive prompts.
import { Option, type Command } from 'commander';
import { isIP } from 'node:net';
import type { ConnectOptions } from '../../client/options.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../../net-address.js';
import { formatDuration } from '../../text.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { CLIENT_SETTINGS } from '../../client/settings.js';
import { duration, lateDefault, settingOption, target, wholeNumber } from '../flags.js';

interface TlsFlags {
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

interface SendFlags extends TlsFlags {
  host: string;
  port: number;
  json?: boolean;
  quiet?: boolean;
  progress: boolean;
  retry: number;
  /** Milliseconds, as every duration flag. */
  retryDelay: number;
  connectTimeout: number;
  timeout: number;
  maxInFlight: number;
  binary?: boolean;
}

/** `--host`: a name or address, or `HOST:PORT` / `[IPv6]:PORT` (then `--port` must not say otherwise). */
function hostFlag(value: string): string {
  const text = value.trim();
  if (text === '' || isIP(text) !== 0 || !text.includes(':')) return text;
  target(text); // HOST:PORT or [IPv6]:PORT, or a usage error that shows the form
  return text;
}

/** The server to reach from `--host` and `--port`; throws when they disagree. */
function serverOf(opts: SendFlags, portGiven: boolean): { host: string; port: number } {
  if (isIP(opts.host) !== 0 || !opts.host.includes(':')) return { host: opts.host, port: opts.port };
  const both = target(opts.host);
  if (portGiven && both.port !== opts.port) {
    throw new Error(
      `--host ${opts.host} names port ${both.port} but --port says ${opts.port}: give the port once ` +
        `(--host ${both.host.includes(':') ? `[${both.host}]` : both.host} --port ${opts.port}, or --host ${opts.host} alone)`,
    );
  }
  return both;
}

async function clientTls(opts: TlsFlags): Promise<ConnectOptions['tls']> {
  if (!opts.tls && !opts.ca && !opts.cert) return undefined;
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('--cert and --key go together');
  const { readFile } = await import('node:fs/promises');
  return {
    ...(opts.ca ? { ca: await readFile(opts.ca) } : {}),
    ...(opts.cert ? { cert: await readFile(opts.cert) } : {}),
    ...(opts.key ? { key: await readFile(opts.key) } : {}),
  };
}

export function register(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const command = program
    .command('send')
    .summary("Send files to a server; with none, the lab client's prompts")
    .description(
      'Send files to a server over one connection, each file as one message, then the quit message.\n' +
        'Each file is split on "\\n"; a missing final newline is added. An empty file cannot be sent\n' +
        '(zero lines means "quit"), so one is refused before anything is sent. "-" reads standard input.\n' +
        "With no files: the lab client's interactive prompts (also drivable through a pipe).",
    )
    .argument('[files...]', 'files to send ("-" for standard input)')
    .addOption(
      new Option('-H, --host <host>', 'server host, or HOST:PORT')
        .env('LINEDROP_HOST')
        .default(DEFAULT_HOST)
        .argParser(hostFlag),
    )
    .addOption(
      new Option('-p, --port <port>', 'TCP port (1 to 65535)')
        .env('LINEDROP_PORT')
        .default(DEFAULT_PORT)
        .argParser(wholeNumber(1, 65535)),
    )
    .addOption(new Option('--tls', 'connect with TLS (verified against the system CAs, or --ca)').env('LINEDROP_TLS'))
    .addOption(
      new Option('--ca <file>', 'PEM CA certificate to verify the server with (implies --tls)').env('LINEDROP_TLS_CA'),
    )
    .addOption(
      new Option('--cert <file>', 'PEM client certificate, for servers that require one (implies --tls)').env(
        'LINEDROP_TLS_CERT',
      ),
    )
    .addOption(new Option('--key <file>', 'PEM key of --cert').env('LINEDROP_TLS_KEY'))
    .addOption(new Option('--json', 'one JSON object per file and a final summary on standard output'))
    .addOption(
      new Option('-q, --quiet', 'print nothing on standard output (errors still go to standard error)').conflicts(
        'json',
      ),
    )
    .addOption(settingOption(CLIENT_SETTINGS.connectTimeoutMs))
    .addOption(settingOption(CLIENT_SETTINGS.timeoutMs))
    .addOption(settingOption(CLIENT_SETTINGS.maxInFlight))
    .addOption(new Option('--binary', 'send files with NUL bytes too (refused otherwise: they look binary)'))
    .addOption(new Option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)'))
    .addOption(
      new Option(
        '--retry <n>',
        'with files: when the connection cannot be made or breaks, reconnect up to n times and send ' +
          'again the files not yet accepted (a rejected file is final)',
      )
        .env('LINEDROP_RETRY')
        .default(0)
        .argParser(wholeNumber(0, 1000)),
    )
    .addOption(
      new Option(
        '--retry-delay <duration>',
        'wait before the first reconnect, doubled for each further one (with jitter), at most 10 s ' +
          '(200ms, 1s, ...; a bare number is in milliseconds)',
      )
        .env('LINEDROP_RETRY_DELAY')
        .argParser(duration('ms', 0, 600_000)),
    )
    .addHelpText(
      'after',
      '\nExit status: 0 every file accepted, 1 a file not accepted (or the server broke the ' +
        'protocol), 2 usage error (nothing sent),\n' +
        '3 cannot connect (or no answer within --connect-timeout), 4 connection lost (or the server ' +
        'silent for --timeout),\n' +
        '130 interrupted (Ctrl-C); with --retry, 3 and 4 only after the last reconnect.',
    )
    .action(async (files: string[], opts: SendFlags) => {
      if (files.length === 0) {
        // The interactive client prints the lab's prompts: these flags have nothing to act on there.
        const given = (['json', 'quiet', 'retry', 'retryDelay', 'binary', 'maxInFlight'] as const).filter(
          (key) => command.getOptionValueSource(key) === 'cli',
        );
        if (given.length > 0) {
          const names = given.map((key) => command.options.find((o) => o.attributeName() === key)?.long ?? key);
          command.error(
            `error: ${names.join(', ')} ${given.length === 1 ? 'needs' : 'need'} files to send; ` +
              `without files, send runs the lab client's interactive prompts`,
            { exitCode: ExitCode.Usage },
          );
        }
      }
      let tls: ConnectOptions['tls'];
      let server: { host: string; port: number };
      try {
        server = serverOf(opts, command.getOptionValueSource('port') !== 'default');
        tls = await clientTls(opts);
      } catch (e) {
        io.stderr.write(`linedrop: ${(e as Error).message}\n`);
        ctx.setExitCode(ExitCode.Usage);
        return;
      }
      const target = { ...server, ...(tls ? { tls } : {}) };
      if (files.length === 0) {
        const { interactiveSend } = await import('./interactive.js');
        ctx.setExitCode(
          await interactiveSend({
            ...target,
            ...(opts.connectTimeout !== undefined ? { connectTimeoutMs: opts.connectTimeout } : {}),
            ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
            input: ctx.lineInput(),
            out: io.stdout,
            err: io.stderr,
          }),
        );
        return;
      }
      const { sendFiles } = await import('./send.js');
      // Ctrl-C (or SIGTERM) stops the run: the bar is cleared and what was and was not sent is said.
      const interrupt = new AbortController();
      const stop = (): void => interrupt.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        ctx.setExitCode(
          await sendFiles({
            ...target,
            files,
            // Standard input is set up only when a file is "-".
            get stdin() {
              return io.stdin;
            },
            out: io.stdout,
            err: io.stderr,
            json: opts.json === true,
            quiet: opts.quiet === true,
            progress: opts.progress,
            retry: opts.retry,
            retryDelayMs: opts.retryDelay,
            connectTimeoutMs: opts.connectTimeout,
            timeoutMs: opts.timeout,
            maxInFlight: opts.maxInFlight,
            binary: opts.binary === true,
            signal: interrupt.signal,
          }),
        );
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  // The defaults live with the client; they load when send runs or shows its help.
  ctx.whenUsed(command, async () => {
    const { DEFAULT_RETRY_DELAY_MS } = await import('./send.js');
    lateDefault(command, '--retry-delay', DEFAULT_RETRY_DELAY_MS, formatDuration(DEFAULT_RETRY_DELAY_MS));
  });
}
