import type { Writable } from 'node:stream';
import type { Limits } from '../protocol/limits.js';
import { LinedropServer, formatAddress } from '../server/server.js';
import type { Layout } from '../storage/types.js';
import { ExitCode } from './exit-codes.js';
import { createLogger, type LogFormat } from './log.js';

export interface ReceiveCommandOptions {
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
  const server = new LinedropServer({
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
    const stop = (signal: string): void => {
      logger.info({ signal }, `${signal}: stopping`);
      void server.close().then(() => resolve(ExitCode.Ok));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (options.once) {
      server.once('connectionOpened', () => server.stopAccepting());
      server.once('connectionClosed', () => {
        void server.close().then(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve(ExitCode.Ok);
        });
      });
    }
  });
}
