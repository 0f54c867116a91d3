/**
 * Billing: accounts, rate decks and rating, credit control, CDRs and their rating queue, the
 * ledger (balances, top-ups, number rental) and the queue dashboard.
 * Imports AuthModule (the dashboard checks admin keys) and platform only; reads numbers and users
 * with read-only SQL for rentals. Other modules use the exported services, never its tables.
 * Every query sits in a repository (accounts, ledger, cdrs, rate-decks .repository.ts, over
 * sql.repository.ts); the services orchestrate and hold none.
 *
 * API for the B2BUA (calls/), all in CreditControlService and CdrsService:
 *
 *   credit.authorize(accountId: string, destinationE164: string, options?: { maxSeconds?: number })
 *     : Promise<Authorization>
 *       { allowed: true, id, accountId, destination, rate: Rate, maxSeconds, held, currency }
 *         maxSeconds: whole billing increments the balance can pay after what this account's calls in
 *         progress (on any node) may still cost; the B2BUA must end the call by then (BYE).
 *       { allowed: false, reason, limit?, message }
 *         reason 'insufficient_balance', 'suspended', 'no_rate', 'unknown_account', or an account
 *         limit ('limit' names its field): 'concurrent_limit' (maxConcurrentCalls, null: the
 *         DEFAULT_MAX_CONCURRENT_CALLS), 'country_not_allowed' (allowedCountries),
 *         'rate_above_limit' (maxRatePerMinute), 'daily_spend_limit' (dailySpendLimit).
 *         The B2BUA maps reasons to SIP answers (calls/call-policy.ts refusalAnswer).
 *   credit.release({ id, accountId }): Promise<void>
 *       Frees the hold and the concurrent-call slot of a reservation that will produce no CDR.
 *       Idempotent; holds also expire by themselves (maxSeconds + 180 s setup + 60 s grace).
 *   cdrs.record(summary: CallSummary): Promise<{ id: string }>
 *       Every call attempt, answered or not, once it ends. Pass the Authorization as
 *       `summary.reservation`: the call is rated at the rate it was authorized with, and its slot
 *       and worst-case hold become a hold of its exact cost until the ledger has the debit.
 *       Resolves once the CDR is durable in PostgreSQL (rating happens on the queue).
 *   credit.activeCalls(accountId): Promise<number>  calls in progress, across every node.
 *   cdrs.open(summary & { cdrId }, { node, maxSeconds, trunkChannel }): Promise<void>
 *       The CDR start record of an answered call (status `open`: never rated, not listed by
 *       default), held by gateway instance `node`. `record` with `cdrId` and `startRecorded`
 *       completes that row at the end instead of inserting a second one.
 *   lostCalls.beat / lostHolders / close: the per-instance heartbeat in PostgreSQL and the closing
 *       of a lost instance's open CDRs (lost-calls.service.ts; calls/lost-calls-sweep.ts drives it).
 */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { Account } from './account.entity';
import { AccountsController } from './accounts.controller';
import { AccountsRepository } from './accounts.repository';
import { AccountsService } from './accounts.service';
import { BillingController } from './billing.controller';
import { BillingQueues, BillingWorkers } from './billing-queues';
import { CDR_QUEUE_PORT } from './cdr-queue.port';
import { CdrsRepository } from './cdrs.repository';
import { CdrsService } from './cdrs.service';
import { CreditControlService } from './credit-control.service';
import { LedgerRepository } from './ledger.repository';
import { LedgerService } from './ledger.service';
import { LostCallsRepository } from './lost-calls.repository';
import { LostCallsService } from './lost-calls.service';
import { QueuesDashboard } from './queues-dashboard';
import { RateDecksController } from './rate-decks.controller';
import { RateDecksRepository } from './rate-decks.repository';
import { RateDecksService } from './rate-decks.service';
import { RentalService } from './rental.service';

@Module({
  imports: [TypeOrmModule.forFeature([Account]), AuthModule],
  controllers: [AccountsController, RateDecksController, BillingController],
  providers: [
    AccountsRepository,
    CdrsRepository,
    LedgerRepository,
    RateDecksRepository,
    AccountsService,
    RateDecksService,
    LedgerService,
    CreditControlService,
    CdrsService,
    RentalService,
    BillingQueues,
    { provide: CDR_QUEUE_PORT, useExisting: BillingQueues },
    BillingWorkers,
    QueuesDashboard,
    LostCallsRepository,
    LostCallsService,
  ],
  exports: [AccountsService, RateDecksService, LedgerService, CreditControlService, CdrsService, LostCallsService],
})
export class BillingModule {}
