// `linedrop receive`: run the server.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { SERVER_SETTINGS, STORAGE_DEFAULTS } from '../../server/settings.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { listenAddress, portOption, settingOption } from '../flags.js';
import type { LogFormat } from './log.js';
import type { ServerTuning } from './receive.js';
import type { S3Flags } from './s3-flags.js';

/** Where `receive` saves files unless told otherwise. */
export const DEFAULT_DIR = STORAGE_DEFAULTS.dir;

interface ReceiveFlags extends S3Flags {
  port: number;
  host?: string;
  dir: string;
  layout: 'flat' | 'session';
  once?: boolean;
  saveEmpty?: boolean;
  maxLines: number;
  maxLineBytes: number;
  maxMessageBytes: number;
  /** Milliseconds, as every duration flag. */
  idleTimeout: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxInFlight: number;
  handshakeTimeout: number;
  shutdownDeadline: number;
  metricsMaxConnections: number;
  metricsIdleTimeout: number;
  allow?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  proxyProtocol?: boolean;
  instanceId?: string;
  metrics?: { host?: string; port: number };
  logFormat: LogFormat;
  json?: boolean;
  quiet?: boolean;
}

/** `--instance-id`: goes into session folder names, so only letters, digits, `_`, `.` and `-` (not first). */
function instanceId(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)) {
    throw new InvalidArgumentError(
      'expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit',
    );
  }
  return value;
}

async function serverTuning(opts: ReceiveFlags): Promise<ServerTuning> {
  const tuning: ServerTuning = {
    idleTimeoutMs: opts.idleTimeout,
    maxConnections: opts.maxConnections,
    maxConnectionsPerAddress: opts.maxConnectionsPerAddress,
    maxInFlight: opts.maxInFlight,
    handshakeTimeoutMs: opts.handshakeTimeout,
    shutdownDeadlineMs: opts.shutdownDeadline,
  };
  if (opts.allow !== undefined) {
    const { AllowList } = await import('../../server/access.js');
    const ranges = opts.allow
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== '');
    new AllowList(ranges); // throws on a bad entry
    tuning.allow = ranges;
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
    throw new Error('--tls-cert and --tls-key go together');
  if (opts.proxyProtocol && opts.tlsCert !== undefined)
    throw new Error('--proxy-protocol and --tls-cert cannot be combined: terminate TLS at the proxy');
  if (opts.proxyProtocol) tuning.proxyProtocol = true;
  if (opts.instanceId !== undefined) tuning.instanceId = opts.instanceId;
  if (opts.clientCa !== undefined && opts.tlsCert === undefined)
    throw new Error('--client-ca needs --tls-cert and --tls-key');
  if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
    const { readFile } = await import('node:fs/promises');
    tuning.tls = {
      cert: await readFile(opts.tlsCert),
      key: await readFile(opts.tlsKey),
      ...(opts.clientCa !== undefined ? { clientCa: await readFile(opts.clientCa) } : {}),
    };
  }
  return tuning;
}

export function register(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  program
    .command('receive')
    .summary('Run the server: save the messages of each connection as 1.txt, 2.txt, ...')
    .description(
      'Run the server: save each message of a connection as 1.txt, 2.txt, ... and answer ' +
        'A (accepted), Q (quit) or R (rejected).',
    )
    .addOption(portOption())
    .addOption(
      new Option('--host <host>', 'address to listen on (default: all interfaces)').env('LINEDROP_LISTEN_HOST'),
    )
    .addOption(
      new Option('-d, --dir <dir>', 'folder for received files (created if missing)')
        .env('LINEDROP_DIR')
        .default(DEFAULT_DIR),
    )
    .addOption(
      new Option(
        '--store <url>',
        'keep received files in S3-compatible object storage instead of a folder: s3://BUCKET/PREFIX',
      )
        .env('LINEDROP_STORE')
        .conflicts('dir'),
    )
    .addOption(
      new Option(
        '--s3-endpoint <url>',
        'endpoint of a non-AWS gateway (Ceph RGW, MinIO, ...), e.g. http://127.0.0.1:7480 (default: AWS)',
      ).env('LINEDROP_S3_ENDPOINT'),
    )
    .addOption(
      new Option(
        '--s3-region <region>',
        "region (default: AWS_REGION or the profile's; " + 'us-east-1 with --s3-endpoint)',
      ).env('LINEDROP_S3_REGION'),
    )
    .addOption(
      new Option(
        '--s3-virtual-hosted',
        'address the bucket as BUCKET.host rather than host/BUCKET (path style is the default with --s3-endpoint)',
      ).env('LINEDROP_S3_VIRTUAL_HOSTED'),
    )
    .addOption(
      new Option(
        '--layout <layout>',
        "flat: k.txt in the folder, later connections overwrite (the lab's); session: a sub-folder " +
          'per connection, nothing overwritten',
      )
        .choices(['flat', 'session'])
        .env('LINEDROP_LAYOUT')
        .default(STORAGE_DEFAULTS.layout),
    )
    .addOption(new Option('--once', "exit after the first connection ends (the lab's behaviour)").env('LINEDROP_ONCE'))
    .addOption(
      new Option('--save-empty', 'also save the zero-line message as the next k.txt').env('LINEDROP_SAVE_EMPTY'),
    )
    .addOption(settingOption(SERVER_SETTINGS.maxLines))
    .addOption(settingOption(SERVER_SETTINGS.maxLineBytes))
    .addOption(settingOption(SERVER_SETTINGS.maxMessageBytes))
    .addOption(settingOption(SERVER_SETTINGS.idleTimeoutMs))
    .addOption(settingOption(SERVER_SETTINGS.handshakeTimeoutMs))
    .addOption(settingOption(SERVER_SETTINGS.maxConnections))
    .addOption(settingOption(SERVER_SETTINGS.maxConnectionsPerAddress))
    .addOption(settingOption(SERVER_SETTINGS.maxInFlight))
    .addOption(settingOption(SERVER_SETTINGS.shutdownDeadlineMs))
    .addOption(
      new Option(
        '--allow <cidrs>',
        'only these addresses or CIDR ranges may connect, comma-separated (e.g. 127.0.0.1,10.0.0.0/8)',
      ).env('LINEDROP_ALLOW'),
    )
    .addOption(
      new Option(
        '--proxy-protocol',
        'expect a PROXY protocol v1/v2 header on every connection (behind HAProxy send-proxy); ' +
          'logs, limits and --allow see the real client',
      ).env('LINEDROP_PROXY_PROTOCOL'),
    )
    .addOption(
      new Option(
        '--instance-id <id>',
        'names this server in session folder names (<time>-<id>-<counter>); give each server ' +
          'sharing a folder its own (default: 6 random hex digits)',
      )
        .env('LINEDROP_INSTANCE_ID')
        .argParser(instanceId),
    )
    .addOption(
      new Option(
        '--metrics <host:port>',
        'serve Prometheus metrics at /metrics and a health check at /healthz (200 while accepting ' +
          'connections, 503 when shutting down) over HTTP on HOST:PORT (PORT alone: all interfaces)',
      )
        .env('LINEDROP_METRICS')
        .argParser(listenAddress),
    )
    .addOption(settingOption(SERVER_SETTINGS.metricsMaxConnections))
    .addOption(settingOption(SERVER_SETTINGS.metricsIdleTimeoutMs))
    .addOption(
      new Option('--tls-cert <file>', 'serve TLS with this PEM certificate (needs --tls-key)').env('LINEDROP_TLS_CERT'),
    )
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('LINEDROP_TLS_KEY'))
    .addOption(
      new Option('--client-ca <file>', 'require client certificates signed by this PEM CA (mutual TLS)').env(
        'LINEDROP_TLS_CLIENT_CA',
      ),
    )
    .addOption(
      new Option('--log-format <format>', 'auto: readable on a terminal, JSON lines otherwise')
        .choices(['auto', 'pretty', 'json'])
        .env('LINEDROP_LOG_FORMAT')
        .default('auto'),
    )
    .addOption(
      new Option(
        '--json',
        'one JSON object per event (listening, connection, file, closed, summary) on standard output',
      ),
    )
    .addOption(new Option('-q, --quiet', 'log warnings and errors only'))
    .addHelpText(
      'after',
      '\nSIGINT, SIGTERM or SIGHUP stops gracefully (messages in progress may finish until the ' +
        'deadline); a second signal stops at once.\nExit status: 0 stopped cleanly, 2 usage error, ' +
        '3 cannot listen or reach the storage.',
    )
    .action(async (opts: ReceiveFlags, command: Command) => {
      const { s3Target } = await import('./s3-flags.js');
      let server: ServerTuning;
      let s3: ReturnType<typeof s3Target>;
      try {
        server = await serverTuning(opts);
        s3 = s3Target(opts, (flag) => command.getOptionValueSource(flag) === 'cli');
      } catch (e) {
        io.stderr.write(`linedrop: ${(e as Error).message}\n`);
        ctx.setExitCode(ExitCode.Usage);
        return;
      }
      const { receive } = await import('./receive.js');
      ctx.setExitCode(
        await receive({
          server,
          port: opts.port,
          host: opts.host,
          dir: opts.dir,
          ...(s3 ? { s3 } : {}),
          layout: opts.layout,
          once: opts.once === true,
          saveEmpty: opts.saveEmpty === true,
          limits: { maxLines: opts.maxLines, maxLineBytes: opts.maxLineBytes, maxMessageBytes: opts.maxMessageBytes },
          logFormat: opts.logFormat,
          err: io.stderr,
          ...(opts.json ? { events: io.stdout } : {}),
          quiet: opts.quiet === true,
          ...(opts.metrics
            ? {
                metrics: {
                  ...opts.metrics,
                  maxConnections: opts.metricsMaxConnections,
                  idleTimeoutMs: opts.metricsIdleTimeout,
                },
              }
            : {}),
        }),
      );
    });
}
