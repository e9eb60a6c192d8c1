// `linedrop receive` running: the server started from the flags, its log, its signals and its last words.
import type { Writable } from 'node:stream';
import type { Limits } from '../../protocol/limits.js';
import { formatAddress } from '../../net-address.js';
import { DEFAULT_SHUTDOWN_DEADLINE_MS, type ServerOptions } from '../../server/options.js';
import { LinedropServer } from '../../server/server.js';
import type { MetricsServer } from '../../server/metrics.js';
import type { Layout } from '../../storage/types.js';
import { openStorage } from '../../storage/open.js';
import type { S3Target } from './s3-flags.js';
import { formatBytes, formatDuration, plural } from '../../text.js';
import { errorFields } from '../../server/logger.js';
import { ExitCode } from '../exit-codes.js';
import { createLogger, type LogFormat } from './log.js';

/** The server's connection limits, access control and shutdown deadline. */
export type ServerTuning = Pick<
  ServerOptions,
  | 'idleTimeoutMs'
  | 'handshakeTimeoutMs'
  | 'maxConnections'
  | 'maxConnectionsPerAddress'
  | 'maxInFlight'
  | 'allow'
  | 'tls'
  | 'proxyProtocol'
  | 'instanceId'
> & {
  shutdownDeadlineMs?: number;
};

export interface ReceiveCommandOptions {
  server?: ServerTuning;
  port: number;
  host?: string;
  dir: string;
  /** Keep files in this bucket and prefix (`--store s3://...`) instead of `dir`. */
  s3?: S3Target;
  layout: Layout;
  once: boolean;
  saveEmpty: boolean;
  limits: Partial<Limits>;
  logFormat: LogFormat;
  err: Writable;
  /** Where to write one JSON object per event, if anywhere. */
  events?: Writable;
  /** Log warnings and errors only. */
  quiet?: boolean;
  /** Serve Prometheus metrics (`/metrics`) and a health check (`/healthz`) over HTTP here. */
  metrics?: { host?: string; port: number; maxConnections?: number; idleTimeoutMs?: number };
}

/**
 * Runs the server until SIGINT, SIGTERM or SIGHUP, or with `once` until its first connection ends (the
 * lab's `tcp_receive`).
 */
export async function receive(options: ReceiveCommandOptions): Promise<ExitCode> {
  const logger = createLogger(options.logFormat, options.quiet ? 'warn' : 'info');
  // The storage is made here (and checked before listening), so the server gets it instead of its choice.
  const { shutdownDeadlineMs = DEFAULT_SHUTDOWN_DEADLINE_MS, instanceId, ...tuning } = options.server ?? {};
  const storage = openStorage({
    dir: options.dir,
    layout: options.layout,
    ...(instanceId !== undefined ? { instanceId } : {}),
    ...(options.s3 ? { s3: options.s3 } : {}),
  });
  // The folder or bucket is checked before listening: one the server cannot use is an error now, not at the first
  // upload.
  try {
    await storage.init();
  } catch (e) {
    options.err.write(`linedrop: ${(e as Error).message}\n`);
    return ExitCode.CannotConnect;
  }
  const server = new LinedropServer({
    ...tuning,
    storage,
    saveEmpty: options.saveEmpty,
    limits: options.limits,
    logger,
  });
  // The metrics endpoint starts first: its /healthz answers 503 until the server listens.
  let metrics: MetricsServer | undefined;
  if (options.metrics) {
    try {
      const { MetricsServer } = await import('../../server/metrics.js');
      metrics = await MetricsServer.start(server, options.metrics);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const where = formatAddress(options.metrics.host ?? '*', options.metrics.port);
      options.err.write(
        `linedrop: cannot serve metrics on ${where}: ` +
          `${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}\n`,
      );
      return ExitCode.CannotConnect;
    }
    logger.info({ metrics: metrics.url }, `metrics on ${metrics.url}/metrics, health check on ${metrics.url}/healthz`);
  }
  try {
    await server.listen(options.port, options.host);
  } catch (e) {
    await metrics?.close();
    const err = e as NodeJS.ErrnoException;
    const where = formatAddress(options.host ?? '*', options.port);
    options.err.write(
      `linedrop: cannot listen on ${where}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}\n`,
    );
    return ExitCode.CannotConnect;
  }

  const started = performance.now();
  const totals = { connections: 0, files: 0, bytes: 0, rejected: 0, refused: 0 };
  const emit = (event: Record<string, unknown>): void => {
    options.events?.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  };
  const address = server.address();
  const instance = (server.storage as { instanceId?: unknown }).instanceId;
  if (typeof instance === 'string' && options.layout === 'session') {
    logger.info({ instance }, `instance ${instance}: session folders are named <time>-${instance}-<counter>`);
  }
  emit({
    event: 'listening',
    host: address.address,
    port: address.port,
    storage: server.storage.location,
    ...(typeof instance === 'string' ? { instance } : {}),
    ...(metrics ? { metrics: metrics.url } : {}),
  });
  server.on('connectionOpened', (e) => {
    totals.connections++;
    emit({ event: 'connection', ...e });
  });
  server.on('connectionRefused', (e) => {
    totals.refused++;
    emit({ event: 'refused', ...e });
  });
  server.on('file', (e) => {
    totals.files++;
    totals.bytes += e.file.bytes;
    emit({
      event: 'file',
      connection: e.connection,
      file: e.file.name,
      path: e.file.location,
      lines: e.lines,
      bytes: e.file.bytes,
      ms: e.ms,
    });
  });
  server.on('connectionClosed', (e) => {
    if (e.reason !== 'quit' && e.reason !== 'client-closed' && e.reason !== 'server-closed') totals.rejected++;
    emit({
      event: 'closed',
      connection: e.connection,
      remote: e.remote,
      reason: e.reason,
      files: e.files,
      bytes: e.bytes,
      ms: e.ms,
      ...(e.error ? { error: errorFields(e.error) } : {}),
    });
  });

  return new Promise<ExitCode>((resolve) => {
    let signals = 0;
    const done = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      const ms = Math.round(performance.now() - started);
      const summary = { ...totals, ms };
      logger.info(
        summary,
        `stopped after ${formatDuration(ms)}: ${plural(totals.connections, 'connection')}, ` +
          `${plural(totals.files, 'file')} saved (${formatBytes(totals.bytes)}), ${totals.rejected} ` +
          `ended abnormally, ${totals.refused} refused`,
      );
      emit({ event: 'summary', ...summary });
      void (metrics?.close() ?? Promise.resolve()).then(() => resolve(ExitCode.Ok));
    };
    // First signal: finish what is in progress, until the deadline. Second: stop at once.
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals === 1) {
        const open = server.connections;
        logger.info(
          { signal, connections: open, deadlineMs: shutdownDeadlineMs },
          `${signal}: stopping; ${plural(open, 'connection')} open${open > 0 ? `, messages in progress may finish within ${formatDuration(shutdownDeadlineMs)}` : ''}`,
        );
        void server.shutdown(shutdownDeadlineMs).then(done);
      } else {
        logger.warn({ signal }, `${signal} again: stopping now`);
        void server.close().then(done);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    if (options.once) {
      server.once('connectionOpened', () => server.stopAccepting());
      server.once('connectionClosed', () => void server.close().then(done));
    }
  });
}
