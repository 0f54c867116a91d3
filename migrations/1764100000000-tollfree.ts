import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Toll-free translation: the entries (one row per toll-free number, rules as JSON so a lookup is one
 * unique-index read), every version of every entry (kept after a delete, so the routing that applied
 * to a past call can be shown), and operator-configured number ranges (extra toll-free ranges,
 * payphone ranges). Constraint names are `tollfree_<column>_<kind>` so problem details name the field.
 */
export class TollFree1764100000000 implements MigrationInterface {
  name = 'TollFree1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tollfree (
        id uuid PRIMARY KEY,
        e164 text NOT NULL CONSTRAINT tollfree_e164_key UNIQUE CONSTRAINT tollfree_e164_check CHECK (e164 ~ '^\\+[1-9][0-9]{1,14}$'),
        account_id uuid NOT NULL CONSTRAINT tollfree_account_id_fkey REFERENCES accounts (id) ON DELETE RESTRICT,
        timezone text NOT NULL CONSTRAINT tollfree_timezone_check CHECK (length(timezone) BETWEEN 1 AND 64),
        default_target text NOT NULL CONSTRAINT tollfree_default_target_check CHECK (default_target ~ '^\\+[1-9][0-9]{1,14}$'),
        rules jsonb NOT NULL DEFAULT '[]' CONSTRAINT tollfree_rules_check CHECK (jsonb_typeof(rules) = 'array'),
        version integer NOT NULL DEFAULT 1 CONSTRAINT tollfree_version_check CHECK (version >= 1),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX tollfree_account_id_idx ON tollfree (account_id)`);
    await q.query(`
      CREATE TABLE tollfree_versions (
        id uuid PRIMARY KEY,
        e164 text NOT NULL,
        version integer NOT NULL,
        change text NOT NULL CONSTRAINT tollfree_versions_change_check CHECK (change IN ('create', 'update', 'delete')),
        changed_by text NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        entry jsonb NOT NULL,
        CONSTRAINT tollfree_versions_e164_version_key UNIQUE (e164, version)
      )`);
    await q.query(`
      CREATE TABLE tollfree_ranges (
        id uuid PRIMARY KEY,
        prefix text NOT NULL CONSTRAINT tollfree_ranges_prefix_check CHECK (prefix ~ '^\\+[1-9][0-9]{0,14}$'),
        kind text NOT NULL CONSTRAINT tollfree_ranges_kind_check CHECK (kind IN ('tollFree', 'payphone')),
        note text CONSTRAINT tollfree_ranges_note_check CHECK (length(note) <= 200),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT tollfree_ranges_prefix_kind_key UNIQUE (prefix, kind)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['tollfree_ranges', 'tollfree_versions', 'tollfree']) await q.query(`DROP TABLE ${t}`);
  }
}
