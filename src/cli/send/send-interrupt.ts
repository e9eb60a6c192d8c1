// `linedrop send`'s Ctrl-C: the signal turned into an exception that ends whatever the run awaits.

/** Thrown inside a run when its signal aborts. */
export class Interrupted extends Error {}

/** A promise that rejects with `Interrupted` when `signal` aborts (at once if it already has); never settles without one. */
export function interruptedBy(signal: AbortSignal | undefined): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal === undefined) return;
    const stop = (): void => reject(new Interrupted());
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}
