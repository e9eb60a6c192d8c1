// The logger the server writes to: pino's method shape, so a pino logger or a test's recorder fits.
/**
 * What the server needs of a logger: the shape of pino's methods (`logger.info(fields, text)`),
 * so a pino logger fits as is and tests can pass a plain recorder.
 */
export interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const nothing = (): void => undefined;

export const silentLogger: Logger = { info: nothing, warn: nothing, error: nothing };

/** An error as log fields: its message, and its code if it has one. */
export function errorFields(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}
