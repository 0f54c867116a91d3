/**
 * Monthly number rental: every assigned number's monthlyFee, charged to the account of its user once
 * per month. Reads numbers and users read-only through ledger.repository.ts (the numbers module owns
 * them); writes only through the ledger. ledger_entries_rental_key (account, number, month) makes a second charge for
 * the same month impossible, whichever process runs the job and however often.
 */
import { Injectable } from '@nestjs/common';
import { AccountsRepository } from './accounts.repository';
import { CreditControlService } from './credit-control.service';
import { LedgerRepository } from './ledger.repository';
import { LedgerService } from './ledger.service';
import { Money } from './rating';

/** 'YYYY-MM' of a date, in UTC. */
export const periodOf = (d: Date): string => d.toISOString().slice(0, 7);

@Injectable()
export class RentalService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly entries: LedgerRepository,
    private readonly accounts: AccountsRepository,
    private readonly credit: CreditControlService,
  ) {}

  /** Charges what is still due for `period`; returns how many charges it made. */
  async chargeMonth(period: string = periodOf(new Date())): Promise<{ period: string; charged: number }> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw new RangeError(`period must be YYYY-MM, got ${period}`);
    const due = await this.entries.rentalsDue(period);
    let charged = 0;
    for (const d of due) {
      // Held before the debit and settled after it, as a call is: no authorization spends the fee meanwhile.
      const holdId = await this.credit.holdDebit(d.account_id, d.monthly_fee);
      let seq = 0;
      const done = await this.entries.transaction(async (tx) => {
        // Under the account lock, so two runs at once see each other's charge instead of colliding.
        await this.accounts.lock(tx, d.account_id);
        if (await this.entries.rentalCharged(tx, d.account_id, d.e164, period)) return false;
        ({ seq } = await this.ledger.append(tx, {
          accountId: d.account_id,
          amount: new Money(d.monthly_fee).neg().toFixed(6),
          kind: 'rental',
          numberE164: d.e164,
          period,
          description: `rental of ${d.e164} for ${period}`,
        }));
        return true;
      }).catch(async (e: Error) => {
        await this.credit.settled(d.account_id, holdId, d.monthly_fee, 0);
        throw e;
      });
      await this.credit.settled(d.account_id, holdId, d.monthly_fee, seq);
      await this.credit.refresh(d.account_id);
      if (done) charged++;
    }
    return { period, charged };
  }
}
