// `linedrop receive`'s log: pino, readable lines on a terminal and JSON lines otherwise.
import { pino } from 'pino';
import pretty from 'pino-pretty';
import type { Logger } from '../../server/logger.js';
import { wantsColour } from '../../check/reporters/colour.js';

export type LogFormat = 'auto' | 'pretty' | 'json';

/**
 * The server's log: readable lines on a terminal, JSON lines otherwise (or as `format` says),
 * written to standard error.
 */
export function createLogger(format: LogFormat, level = 'info'): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (!usePretty)
    return pino(
      { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
      pino.destination({ fd: 2, sync: true }),
    );
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: wantsColour(process.stderr),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    hideObject: true,
  });
  return pino({ level, base: undefined }, stream);
}
