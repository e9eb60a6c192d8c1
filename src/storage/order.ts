// The order of one connection's files while their commits overlap: renamed in order, a failure carries forward.
/**
 * The order of one connection's files, for commits that overlap (pipelining): a file is renamed
 * into place only after the file before it was, and counts as stored only if the file before it
 * is stored too. A failure therefore carries forward: once a file fails, none after it is stored.
 *
 * Each file takes a `FileTurn` when it is created; the turn before it (if any) is what it waits on.
 */
import { ignore } from '../text.js';

export class FileTurn {
  /** Resolves once this file is renamed into place; rejects if it never will be. */
  readonly placed: Promise<void>;
  /** Resolves once this file is stored (durable, in place); rejects if it is not. */
  readonly stored: Promise<void>;
  private resolvePlaced!: () => void;
  private rejectPlaced!: (err: unknown) => void;
  private resolveStored!: () => void;
  private rejectStored!: (err: unknown) => void;

  constructor() {
    this.placed = new Promise((resolve, reject) => {
      this.resolvePlaced = resolve;
      this.rejectPlaced = reject;
    });
    this.stored = new Promise((resolve, reject) => {
      this.resolveStored = resolve;
      this.rejectStored = reject;
    });
    // Nobody may be waiting (the last file of a connection): a failure is not unhandled.
    this.placed.catch(ignore);
    this.stored.catch(ignore);
  }

  /** The file is in place under its final name. */
  place(): void {
    this.resolvePlaced();
  }

  /** The file is stored: durable and in place. */
  store(): void {
    this.resolvePlaced();
    this.resolveStored();
  }

  /** The file is not stored (failed or aborted): the files after it will not be either. */
  fail(cause: unknown): void {
    const err = new EarlierFileError(cause);
    this.rejectPlaced(err);
    this.rejectStored(err);
  }
}

/** A file of a connection is not stored because an earlier file of the same connection was not. */
export class EarlierFileError extends Error {
  override readonly name = 'EarlierFileError';
  readonly code = 'LINEDROP_ERR_EARLIER_FILE_FAILED';
  constructor(cause: unknown) {
    super('not stored: an earlier file of this connection was not stored', { cause });
  }
}

/** The turns of one connection's files, in the order they are created. */
export class FileOrder {
  private last: FileTurn | undefined;

  /** A turn for the next file, and the turn of the file before it (undefined for the first). */
  next(): { turn: FileTurn; previous: FileTurn | undefined } {
    const previous = this.last;
    const turn = new FileTurn();
    this.last = turn;
    return { turn, previous };
  }
}
