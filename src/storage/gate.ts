// The back-pressure gate a file sink shares with the disk and S3 sinks: bytes in, bytes taken, drained.
/**
 * The back-pressure of one file sink, shared by the disk and S3 sinks so `write` and `drained`
 * mean the same for both. Bytes are counted in when written and out once storage has taken
 * them; past the high-water mark `write` returns false and `drained()` waits. Once storing has
 * failed, `write` returns false for good and `drained()` rejects with the failure at once: the
 * server stops reading the file and answers `R` now rather than at the end of the message.
 */
export class WriteGate {
  private held = 0;
  private failed = false;
  private failure: unknown;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly highWaterMark: number) {}

  /** The failure, once storing has failed. */
  get error(): unknown {
    return this.failure;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  /** What `write` returns: whether the caller may write more without waiting. */
  get open(): boolean {
    return !this.failed && this.held < this.highWaterMark;
  }

  /** Bytes written, not yet taken by storage. */
  add(bytes: number): void {
    this.held += bytes;
  }

  /** Bytes storage has taken: waiters go on once below the mark. */
  remove(bytes: number): void {
    this.held -= bytes;
    if (this.held < this.highWaterMark) this.settle();
  }

  /** Resolves once below the high-water mark; rejects with the failure once storing has failed. */
  drained(): Promise<void> {
    if (this.failed) return Promise.reject(this.failure);
    if (this.held < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Storing failed: the first failure is kept, and every waiter (now and later) gets it. */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = err;
    this.held = 0;
    this.settle();
  }

  private settle(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (this.failed) waiter.reject(this.failure);
      else waiter.resolve();
    }
  }
}
