// Words and numbers as people read them; shared by every room (no I/O here).

/** `1 line`, `2 lines`, `0 connections`: a count with its noun (`many` for an irregular plural). */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : many}`;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `512 B`, `1.5 KiB`, `381.5 MiB`: bytes in binary units, one decimal past 1 KiB. */
export function formatBytes(n: number): string {
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  let v = n / 1024;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${BYTE_UNITS[u]}`;
}

/**
 * `250 ms`, `1.2 s`, `10 s`, `2 min`, `1 h 5 min`: a duration in the largest unit that keeps it
 * readable (so a flag given as `10s` or `500ms` is printed as given).
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${trim(ms / 1000)} s`;
  if (ms < 3_600_000) {
    const min = Math.floor(ms / 60_000);
    const s = (ms - min * 60_000) / 1000;
    return s === 0 ? `${min} min` : `${min} min ${trim(s)} s`;
  }
  const h = Math.floor(ms / 3_600_000);
  const min = Math.round((ms - h * 3_600_000) / 60_000);
  return min === 0 ? `${h} h` : `${h} h ${min} min`;
}

/** One decimal at most, none when whole: `1.2`, `10`. */
function trim(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** Does nothing: for a promise whose failure is seen elsewhere (`.catch(ignore)`). */
export function ignore(): void {}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The edit distance between two words (insertions, deletions, substitutions, swaps of neighbours). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate nearest to `word`, if one is near enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(word, c);
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}
