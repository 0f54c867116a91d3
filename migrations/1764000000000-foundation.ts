import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Foundation schema: API keys, accounts, users, numbers (DIDs), trunks and routes.
 * Rules that must hold whatever the code does live here as constraints:
 * unique E.164, an assigned number has a user and only then, non-negative limits and fees.
 */
export class Foundation1764000000000 implements MigrationInterface {
  name = 'Foundation1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL CONSTRAINT api_keys_name_check CHECK (length(name) BETWEEN 1 AND 200),
        role text NOT NULL CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'operator', 'billing')),
        secret_hash text NOT NULL CONSTRAINT api_keys_secret_hash_key UNIQUE,
        prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE accounts (
        id uuid PRIMARY KEY,
        name text NOT NULL CONSTRAINT accounts_name_check CHECK (length(name) BETWEEN 1 AND 200),
        currency char(3) NOT NULL CONSTRAINT accounts_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
        balance numeric(20, 6) NOT NULL DEFAULT 0,
        credit_limit numeric(20, 6) NOT NULL DEFAULT 0 CONSTRAINT accounts_credit_limit_check CHECK (credit_limit >= 0),
        max_concurrent_calls integer CONSTRAINT accounts_max_concurrent_calls_check CHECK (max_concurrent_calls >= 0),
        rate_deck_id uuid,
        status text NOT NULL DEFAULT 'active' CONSTRAINT accounts_status_check CHECK (status IN ('active', 'suspended')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        username text NOT NULL CONSTRAINT users_username_key UNIQUE
          CONSTRAINT users_username_check CHECK (username ~ '^[A-Za-z0-9._~!$&''()*+,;=-]{1,64}$'),
        realm text NOT NULL,
        ha1_md5 char(32) NOT NULL,
        ha1_sha256 char(64) NOT NULL,
        display_name text CONSTRAINT users_display_name_check CHECK (length(display_name) <= 200),
        account_id uuid NOT NULL CONSTRAINT users_account_id_fkey REFERENCES accounts (id) ON DELETE RESTRICT,
        status text NOT NULL DEFAULT 'active' CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX users_account_id_idx ON users (account_id)`);
    await q.query(`
      CREATE TABLE numbers (
        id uuid PRIMARY KEY,
        e164 text NOT NULL CONSTRAINT numbers_e164_key UNIQUE CONSTRAINT numbers_e164_check CHECK (e164 ~ '^\\+[1-9][0-9]{1,14}$'),
        country char(2),
        type text NOT NULL,
        status text NOT NULL DEFAULT 'available' CONSTRAINT numbers_status_check CHECK (status IN ('available', 'assigned', 'quarantined')),
        user_id uuid CONSTRAINT numbers_user_id_fkey REFERENCES users (id) ON DELETE RESTRICT,
        forwarding jsonb NOT NULL DEFAULT '{"mode":"none"}',
        monthly_fee numeric(20, 6) NOT NULL DEFAULT 0 CONSTRAINT numbers_monthly_fee_check CHECK (monthly_fee >= 0),
        quarantined_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT numbers_assignment_check CHECK ((status = 'assigned') = (user_id IS NOT NULL)),
        CONSTRAINT numbers_quarantine_check CHECK ((status = 'quarantined') = (quarantined_until IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX numbers_user_id_idx ON numbers (user_id)`);
    await q.query(`CREATE INDEX numbers_quarantined_until_idx ON numbers (quarantined_until) WHERE status = 'quarantined'`);
    await q.query(`
      CREATE TABLE trunks (
        id uuid PRIMARY KEY,
        name text NOT NULL CONSTRAINT trunks_name_key UNIQUE,
        host text NOT NULL,
        port integer NOT NULL DEFAULT 5060 CONSTRAINT trunks_port_check CHECK (port BETWEEN 1 AND 65535),
        transport text NOT NULL DEFAULT 'udp' CONSTRAINT trunks_transport_check CHECK (transport IN ('udp', 'tcp', 'tls')),
        username text,
        password_sealed text,
        inbound_addresses cidr[] NOT NULL DEFAULT '{}',
        max_channels integer CONSTRAINT trunks_max_channels_check CHECK (max_channels > 0),
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE routes (
        id uuid PRIMARY KEY,
        prefix text NOT NULL CONSTRAINT routes_prefix_check CHECK (prefix ~ '^[0-9]{0,15}$'),
        trunk_id uuid NOT NULL CONSTRAINT routes_trunk_id_fkey REFERENCES trunks (id) ON DELETE RESTRICT,
        priority integer NOT NULL DEFAULT 100 CONSTRAINT routes_priority_check CHECK (priority >= 0),
        weight integer NOT NULL DEFAULT 1 CONSTRAINT routes_weight_check CHECK (weight > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT routes_prefix_trunk_id_key UNIQUE (prefix, trunk_id)
      )`);
    await q.query(`CREATE INDEX routes_prefix_idx ON routes (prefix text_pattern_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['routes', 'trunks', 'numbers', 'users', 'accounts', 'api_keys']) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}
