// The limits the decoder enforces on what a peer may send, and their defaults.
/**
 * Limits the decoder enforces on what a peer may send. Every limit is checked as soon as the
 * bytes that can break it arrive: the line count at the 4-byte header, a line's length before
 * its `\n` arrives, a message's size as a running total.
 */
export interface Limits {
  /** Most lines one message may announce (checked when the 4-byte count is complete). */
  maxLines: number;
  /** Most bytes one line may hold, not counting its `\n` (checked while the line arrives). */
  maxLineBytes: number;
  /** Most bytes one message body may hold, every `\n` included (checked as a running total). */
  maxMessageBytes: number;
}

/** The largest count the 4-byte big-endian header can carry. */
export const MAX_WIRE_COUNT = 0xffff_ffff;

/**
 * Finite but generous: a 4 GiB file of 100-byte lines (about 43 million lines) fits with room to
 * spare, and one line may be 1 MiB.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxLines: 100_000_000,
  maxLineBytes: 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024 * 1024,
});

/** Fills in the defaults and checks that every limit is a non-negative whole number. */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`limit ${key} must be a whole number >= 0, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}
