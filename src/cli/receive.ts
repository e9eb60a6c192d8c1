import type { Writable } from 'node:stream';
import type { Limits } from '../protocol/limits.js';
import { DEFAULT_SHUTDOWN_DEADLINE_MS, LinedropServer, formatAddress, type ServerOptions } from '../server/server.js';
import type { Layout } from '../storage/types.js';
import { ExitCode } from './exit-codes.js';
import { createLogger, type LogFormat } from './log.js';

/** The server's connection limits, access control and shutdown deadline. */
export type ServerTuning = Pick<ServerOptions, 'idleTimeoutMs' | 'maxConnections' | 'maxConnectionsPerAddress' | 'allow' | 'tls'> & {
  shutdownDeadlineMs?: number;
};

export interface ReceiveCommandOptions {
  server?: ServerTuning;
  port: number;
  host?: string;
  dir: string;
  layout: Layout;
  once: boolean;
  saveEmpty: boolean;
  limits: Partial<Limits>;
  logFormat: LogFormat;
  err: Writable;
}

/**
 * Runs the server until SIGINT or SIGTERM, or with `once` until its first connection ends (the
 * lab's `tcp_receive`).
 */
export async function receive(options: ReceiveCommandOptions): Promise<ExitCode> {
  const logger = createLogger(options.logFormat);
  const { shutdownDeadlineMs = DEFAULT_SHUTDOWN_DEADLINE_MS, ...tuning } = options.server ?? {};
  const server = new LinedropServer({
    ...tuning,
    dir: options.dir,
    layout: options.layout,
    saveEmpty: options.saveEmpty,
    limits: options.limits,
    logger,
  });
  try {
    await server.listen(options.port, options.host);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const where = formatAddress(options.host ?? '*', options.port);
    options.err.write(`linedrop: cannot listen on ${where}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}\n`);
    return ExitCode.CannotConnect;
  }

  return new Promise<ExitCode>((resolve) => {
    let signals = 0;
    const done = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(ExitCode.Ok);
    };
    // First signal: finish what is in progress, until the deadline. Second: stop at once.
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals === 1) {
        logger.info({ signal, deadlineMs: shutdownDeadlineMs, open: server.connections }, `${signal}: stopping; ${server.connections} connection(s) open, messages in progress may finish within ${shutdownDeadlineMs} ms`);
        void server.shutdown(shutdownDeadlineMs).then(done);
      } else {
        logger.warn({ signal }, `${signal} again: stopping now`);
        void server.close().then(done);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (options.once) {
      server.once('connectionOpened', () => server.stopAccepting());
      server.once('connectionClosed', () => void server.close().then(done));
    }
  });
}
