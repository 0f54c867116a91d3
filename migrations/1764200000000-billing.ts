import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Billing schema: rate decks and rates, CDRs, the ledger, top-ups.
 * The rules that keep money exact are constraints here, whatever the code does:
 * one ledger debit per CDR (ledger_entries_cdr_id_key), one rental charge per number, account and
 * month (ledger_entries_rental_key), one top-up per idempotency key and account, and a per-account
 * ledger sequence (accounts.ledger_seq, ledger_entries_account_id_seq_key) that orders every
 * balance change so credit control can tell which debits a balance it read already includes.
 */
export class Billing1764200000000 implements MigrationInterface {
  name = 'Billing1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rate_decks (
        id uuid PRIMARY KEY,
        name text NOT NULL CONSTRAINT rate_decks_name_key UNIQUE CONSTRAINT rate_decks_name_check CHECK (length(name) BETWEEN 1 AND 200),
        currency char(3) NOT NULL CONSTRAINT rate_decks_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE rates (
        id uuid PRIMARY KEY,
        rate_deck_id uuid NOT NULL CONSTRAINT rates_rate_deck_id_fkey REFERENCES rate_decks (id) ON DELETE CASCADE,
        prefix text NOT NULL CONSTRAINT rates_prefix_check CHECK (prefix ~ '^[0-9]{1,15}$'),
        destination text NOT NULL CONSTRAINT rates_destination_check CHECK (length(destination) BETWEEN 1 AND 200),
        rate_per_minute numeric(20, 6) NOT NULL CONSTRAINT rates_rate_per_minute_check CHECK (rate_per_minute >= 0),
        connection_fee numeric(20, 6) NOT NULL DEFAULT 0 CONSTRAINT rates_connection_fee_check CHECK (connection_fee >= 0),
        first_increment integer NOT NULL CONSTRAINT rates_first_increment_check CHECK (first_increment BETWEEN 1 AND 3600),
        next_increment integer NOT NULL CONSTRAINT rates_next_increment_check CHECK (next_increment BETWEEN 1 AND 3600),
        effective_from timestamptz NOT NULL DEFAULT now(),
        effective_to timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT rates_effective_to_check CHECK (effective_to IS NULL OR effective_to > effective_from),
        CONSTRAINT rates_prefix_effective_from_key UNIQUE (rate_deck_id, prefix, effective_from)
      )`);
    await q.query(`ALTER TABLE accounts ADD CONSTRAINT accounts_rate_deck_id_fkey FOREIGN KEY (rate_deck_id) REFERENCES rate_decks (id) ON DELETE RESTRICT`);
    await q.query(`CREATE INDEX accounts_rate_deck_id_idx ON accounts (rate_deck_id)`);
    await q.query(`ALTER TABLE accounts ADD COLUMN ledger_seq bigint NOT NULL DEFAULT 0`);
    await q.query(`
      CREATE TABLE cdrs (
        id uuid PRIMARY KEY,
        call_id text NOT NULL,
        direction text NOT NULL CONSTRAINT cdrs_direction_check CHECK (direction IN ('outbound', 'inbound', 'internal')),
        account_id uuid CONSTRAINT cdrs_account_id_fkey REFERENCES accounts (id) ON DELETE RESTRICT,
        user_id uuid,
        trunk_id uuid,
        caller text,
        dialed text,
        callee text,
        translated_to text,
        started_at timestamptz NOT NULL,
        ringing_at timestamptz,
        answered_at timestamptz,
        ended_at timestamptz NOT NULL,
        duration_seconds integer NOT NULL DEFAULT 0 CONSTRAINT cdrs_duration_seconds_check CHECK (duration_seconds >= 0),
        billable_seconds integer,
        disposition text NOT NULL CONSTRAINT cdrs_disposition_check
          CHECK (disposition IN ('answered', 'busy', 'noAnswer', 'failed', 'cancelled', 'rejected')),
        sip_code integer,
        sip_reason text,
        hangup_by text CONSTRAINT cdrs_hangup_by_check CHECK (hangup_by IN ('caller', 'callee', 'gateway')),
        rate_prefix text,
        rate_destination text,
        rate_per_minute numeric(20, 6),
        connection_fee numeric(20, 6),
        first_increment integer,
        next_increment integer,
        cost numeric(20, 6),
        currency char(3),
        status text NOT NULL DEFAULT 'pending' CONSTRAINT cdrs_status_check CHECK (status IN ('pending', 'rated', 'failed')),
        failure_reason text,
        reservation_id text,
        rated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT cdrs_ended_at_check CHECK (ended_at >= started_at)
      )`);
    await q.query(`CREATE INDEX cdrs_pending_idx ON cdrs (created_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX cdrs_account_id_idx ON cdrs (account_id, id)`);
    await q.query(`CREATE INDEX cdrs_started_at_idx ON cdrs (started_at)`);
    await q.query(`CREATE INDEX cdrs_user_id_idx ON cdrs (user_id, id) WHERE user_id IS NOT NULL`);
    await q.query(`
      CREATE TABLE topups (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL CONSTRAINT topups_account_id_fkey REFERENCES accounts (id) ON DELETE RESTRICT,
        idempotency_key text,
        request_hash text NOT NULL,
        amount numeric(20, 6) NOT NULL CONSTRAINT topups_amount_check CHECK (amount > 0),
        reference text,
        response jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT topups_idempotency_key_key UNIQUE (account_id, idempotency_key)
      )`);
    await q.query(`
      CREATE TABLE ledger_entries (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL CONSTRAINT ledger_entries_account_id_fkey REFERENCES accounts (id) ON DELETE RESTRICT,
        seq bigint NOT NULL,
        kind text NOT NULL CONSTRAINT ledger_entries_kind_check CHECK (kind IN ('topup', 'call', 'rental')),
        amount numeric(20, 6) NOT NULL,
        balance_after numeric(20, 6) NOT NULL,
        cdr_id uuid CONSTRAINT ledger_entries_cdr_id_key UNIQUE CONSTRAINT ledger_entries_cdr_id_fkey REFERENCES cdrs (id) ON DELETE RESTRICT,
        topup_id uuid CONSTRAINT ledger_entries_topup_id_key UNIQUE CONSTRAINT ledger_entries_topup_id_fkey REFERENCES topups (id) ON DELETE RESTRICT,
        number_e164 text,
        period char(7),
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ledger_entries_account_id_seq_key UNIQUE (account_id, seq),
        CONSTRAINT ledger_entries_rental_key UNIQUE (account_id, number_e164, period),
        CONSTRAINT ledger_entries_source_check CHECK (
          (kind = 'call' AND cdr_id IS NOT NULL) OR (kind = 'topup' AND topup_id IS NOT NULL)
          OR (kind = 'rental' AND number_e164 IS NOT NULL AND period IS NOT NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['ledger_entries', 'topups', 'cdrs']) await q.query(`DROP TABLE ${t}`);
    await q.query(`ALTER TABLE accounts DROP COLUMN ledger_seq`);
    await q.query(`DROP INDEX accounts_rate_deck_id_idx`);
    await q.query(`ALTER TABLE accounts DROP CONSTRAINT accounts_rate_deck_id_fkey`);
    for (const t of ['rates', 'rate_decks']) await q.query(`DROP TABLE ${t}`);
  }
}
