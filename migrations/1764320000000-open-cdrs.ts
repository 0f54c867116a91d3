import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * No CDR lost to a crash (issue 15): an answered call's CDR is written at answer with status
 * `open` (in progress: the rating sweep and the CDR list leave it alone) and completed in place at
 * the end. The row says which gateway instance holds the call (`node_instance`), the seconds
 * credit control granted (`max_seconds`, the cap when a lost node's call is closed) and the trunk
 * channel hold it took (`trunk_channel`, released when it is). `call_nodes` keeps each instance's
 * last heartbeat: a survivor closes the open CDRs of an instance whose heartbeat lapsed, ending
 * them at that heartbeat. The status check is swapped NOT VALID first, then validated, so a large
 * cdrs table is not locked against writes while the old rows are checked.
 */
export class OpenCdrs1764320000000 implements MigrationInterface {
  name = 'OpenCdrs1764320000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE cdrs DROP CONSTRAINT cdrs_status_check`);
    await q.query(`ALTER TABLE cdrs ADD CONSTRAINT cdrs_status_check CHECK (status IN ('open', 'pending', 'rated', 'failed')) NOT VALID`);
    await q.query(`ALTER TABLE cdrs VALIDATE CONSTRAINT cdrs_status_check`);
    await q.query(`ALTER TABLE cdrs ADD COLUMN node_instance text, ADD COLUMN max_seconds integer, ADD COLUMN trunk_channel text`);
    await q.query(`CREATE INDEX cdrs_open_node_idx ON cdrs (node_instance) WHERE status = 'open'`);
    await q.query(`
      CREATE TABLE call_nodes (
        instance text PRIMARY KEY,
        node_id text NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        interval_seconds integer NOT NULL CONSTRAINT call_nodes_interval_check CHECK (interval_seconds > 0)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE call_nodes`);
    await q.query(`DROP INDEX cdrs_open_node_idx`);
    await q.query(`ALTER TABLE cdrs DROP COLUMN node_instance, DROP COLUMN max_seconds, DROP COLUMN trunk_channel`);
    await q.query(`UPDATE cdrs SET status = 'pending' WHERE status = 'open'`);
    await q.query(`ALTER TABLE cdrs DROP CONSTRAINT cdrs_status_check`);
    await q.query(`ALTER TABLE cdrs ADD CONSTRAINT cdrs_status_check CHECK (status IN ('pending', 'rated', 'failed'))`);
  }
}
