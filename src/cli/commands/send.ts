// `linedrop send [files...]`: send files, or with none the lab client's interactive prompts.
import { Option, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { DEFAULT_HOST, type ConnectOptions } from '../../client/client.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { portOption, wholeNumber } from '../flags.js';
import { interactiveSend } from '../interactive.js';
import { DEFAULT_RETRY_DELAY_MS, sendFiles } from '../send.js';

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
  retryDelay: number;
}

async function clientTls(opts: TlsFlags): Promise<ConnectOptions['tls']> {
  if (!opts.tls && !opts.ca && !opts.cert) return undefined;
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('--cert and --key go together');
  return {
    ...(opts.ca ? { ca: await readFile(opts.ca) } : {}),
    ...(opts.cert ? { cert: await readFile(opts.cert) } : {}),
    ...(opts.key ? { key: await readFile(opts.key) } : {}),
  };
}

export function register(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  program
    .command('send')
    .description(
      'Send files to a server over one connection, each file as one message, then the quit message.\n' +
        'Each file is split on "\\n"; a missing final newline is added. An empty file cannot be sent\n' +
        '(zero lines means "quit"), so one is refused before anything is sent. "-" reads standard input.\n' +
        'With no files: the lab client\'s interactive prompts (also drivable through a pipe).',
    )
    .argument('[files...]', 'files to send ("-" for standard input)')
    .addOption(new Option('-H, --host <host>', 'server host').env('LINEDROP_HOST').default(DEFAULT_HOST))
    .addOption(portOption())
    .addOption(new Option('--tls', 'connect with TLS (verified against the system CAs, or --ca)').env('LINEDROP_TLS'))
    .addOption(new Option('--ca <file>', 'PEM CA certificate to verify the server with (implies --tls)').env('LINEDROP_TLS_CA'))
    .addOption(new Option('--cert <file>', 'PEM client certificate, for servers that require one (implies --tls)').env('LINEDROP_TLS_CERT'))
    .addOption(new Option('--key <file>', 'PEM key of --cert').env('LINEDROP_TLS_KEY'))
    .addOption(new Option('--json', 'one JSON object per file and a final summary on standard output'))
    .addOption(new Option('-q, --quiet', 'print nothing on standard output (errors still go to standard error)'))
    .addOption(new Option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)'))
    .addOption(new Option('--retry <n>', 'with files: when the connection cannot be made or breaks, reconnect up to n times and send again the files not yet accepted (a rejected file is final)').env('LINEDROP_RETRY').default(0).argParser(wholeNumber(0, 1000)))
    .addOption(new Option('--retry-delay <ms>', 'wait before the first reconnect, doubled for each further one (with jitter), at most 10 s').env('LINEDROP_RETRY_DELAY').default(DEFAULT_RETRY_DELAY_MS).argParser(wholeNumber(0, 600_000)))
    .addHelpText('after', '\nExit status: 0 every file accepted, 1 a file not accepted, 2 usage error (nothing sent), 3 cannot connect, 4 connection lost\n(with --retry: after the last reconnect).')
    .action(async (files: string[], opts: SendFlags) => {
      let tls: ConnectOptions['tls'];
      try {
        tls = await clientTls(opts);
      } catch (e) {
        io.stderr.write(`linedrop: ${(e as Error).message}\n`);
        ctx.setExitCode(ExitCode.Usage);
        return;
      }
      const target = { host: opts.host, port: opts.port, ...(tls ? { tls } : {}) };
      if (files.length === 0) {
        ctx.setExitCode(await interactiveSend({ ...target, input: ctx.lineInput(), out: io.stdout, err: io.stderr }));
        return;
      }
      ctx.setExitCode(
        await sendFiles({
          ...target,
          files,
          stdin: io.stdin,
          out: io.stdout,
          err: io.stderr,
          json: opts.json === true,
          quiet: opts.quiet === true,
          progress: opts.progress,
          retry: opts.retry,
          retryDelayMs: opts.retryDelay,
        }),
      );
    });
}
