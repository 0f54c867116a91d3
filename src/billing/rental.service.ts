/**
 * Monthly number rental: every assigned number's monthlyFee, charged to the account of its user once
 * per month. Reads numbers and users with read-only SQL (the numbers module owns them); writes only
 * through the ledger. ledger_entries_rental_key (account, number, month) makes a second charge for
 * the same month impossible, whichever process runs the job and however often.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { LedgerService } from './ledger.service';
import { Money } from './rating';

/** 'YYYY-MM' of a date, in UTC. */
export const periodOf = (d: Date): string => d.toISOString().slice(0, 7);

@Injectable()
export class RentalService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly ledger: LedgerService,
  ) {}

  /** Charges what is still due for `period`; returns how many charges it made. */
  async chargeMonth(period: string = periodOf(new Date())): Promise<{ period: string; charged: number }> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw new RangeError(`period must be YYYY-MM, got ${period}`);
    const due = (await this.db.query(
      `SELECT n.e164, n.monthly_fee, u.account_id FROM numbers n JOIN users u ON u.id = n.user_id
       WHERE n.status = 'assigned' AND n.monthly_fee > 0
         AND NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.account_id = u.account_id AND l.number_e164 = n.e164 AND l.period = $1)
       ORDER BY n.e164`,
      [period],
    )) as { e164: string; monthly_fee: string; account_id: string }[];
    let charged = 0;
    for (const d of due) {
      const done = await this.db.transaction(async (tx) => {
        // Under the account lock, so two runs at once see each other's charge instead of colliding.
        await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [d.account_id]);
        const [exists] = (await tx.query('SELECT 1 FROM ledger_entries WHERE account_id = $1 AND number_e164 = $2 AND period = $3', [d.account_id, d.e164, period])) as unknown[];
        if (exists) return false;
        await this.ledger.append(tx, {
          accountId: d.account_id,
          amount: new Money(d.monthly_fee).neg().toFixed(6),
          kind: 'rental',
          numberE164: d.e164,
          period,
          description: `rental of ${d.e164} for ${period}`,
        });
        return true;
      });
      if (done) charged++;
    }
    return { period, charged };
  }
}
