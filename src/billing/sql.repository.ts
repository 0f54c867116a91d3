/**
 * What every billing repository shares: the DataSource, transactions, and "run on the caller's
 * transaction when there is one". Services get a transaction only through `transaction` and pass
 * its handle (`Tx`) back to repository methods; they never query with it themselves.
 */
import { DataSource, EntityManager } from 'typeorm';

/** A transaction handle, to pass to repository methods that must run inside it. */
export type Tx = EntityManager;

export abstract class SqlRepository {
  constructor(protected readonly db: DataSource) {}

  /**
   * Runs `work` in one transaction. `durable: false` skips the WAL flush at commit
   * (SET LOCAL synchronous_commit TO OFF): for transactions that only take locks and change no data.
   */
  transaction<T>(work: (tx: Tx) => Promise<T>, options: { durable?: boolean } = {}): Promise<T> {
    return this.db.transaction(async (tx) => {
      if (options.durable === false) await tx.query('SET LOCAL synchronous_commit TO OFF');
      return work(tx);
    });
  }

  /**
   * The caller's transaction if it has one, else the pool. Inside a transaction, queries must use
   * its connection: a second one per transaction could exhaust the pool under load and wait forever.
   */
  protected on(tx?: Tx): DataSource | EntityManager {
    return tx ?? this.db;
  }
}
