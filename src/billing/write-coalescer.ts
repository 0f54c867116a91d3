/**
 * Gathers the writes callers make in the same event-loop turn and runs them as one batch (one
 * statement, one commit, one Redis call): under load a CDR's cost is its commit, not its row.
 * Each caller's promise settles when its own item is written. If a batch fails and holds more
 * than one item, each item is tried alone, so one bad row (an unknown account's foreign key)
 * fails only its own caller. Written by hand: the rule "retry alone after a batch failure" and
 * the in-flight bound are the whole point, and no maintained library has both. Imports nothing.
 */
export class WriteCoalescer<T> {
  private waiting: { item: T; resolve: () => void; reject: (e: Error) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxBatch = 500,
    private readonly maxInFlight = 2,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      // Let the other writes of this turn join; a batch already running lets more gather.
      if (this.waiting.length === 1 && this.inFlight < this.maxInFlight) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, this.maxBatch);
    this.inFlight++;
    try {
      await this.write(batch.map((w) => w.item));
      for (const w of batch) w.resolve();
    } catch (e) {
      if (batch.length === 1) batch[0].reject(e as Error);
      else
        await Promise.all(
          batch.map((w) =>
            this.write([w.item]).then(
              () => w.resolve(),
              (err: Error) => w.reject(err),
            ),
          ),
        );
    } finally {
      this.inFlight--;
      if (this.waiting.length) setImmediate(() => void this.flush());
    }
  }
}
