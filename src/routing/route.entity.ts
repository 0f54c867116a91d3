import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An outbound route: numbers starting with `prefix` may go to `trunkId`. Longest prefix, then priority. */
@Entity('routes')
export class Route {
  @PrimaryColumn('uuid')
  id: string;

  /** E.164 digits without `+`; empty matches every number. */
  @Column('text')
  prefix: string;

  @Column('uuid', { name: 'trunk_id' })
  trunkId: string;

  @Column('integer', { default: 100 })
  priority: number;

  @Column('integer', { default: 1 })
  weight: number;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;
}
