// `linedrop send`'s Ctrl-C: the signal turned into an exception that ends whatever the run awaits.
import { LinedropError } from '../../errors.js';

/** Thrown inside a run when its signal aborts. */
export class InterruptedError extends LinedropError<'LINEDROP_ERR_INTERRUPTED'> {
  override name = 'InterruptedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_INTERRUPTED', message, options);
  }
}

/**
 * A promise that rejects with `InterruptedError` when `signal` aborts (at once if it already has); never settles
 * without one.
 */
export function interruptedBy(signal: AbortSignal | undefined): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal === undefined) return;
    const stop = (): void => reject(new InterruptedError('interrupted'));
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}
