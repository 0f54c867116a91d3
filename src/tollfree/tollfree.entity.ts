/** Toll-free tables (see migrations/1764100000000-tollfree.ts): entries, their versions, operator ranges. */
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { TollFreeEntry, TollFreeRule } from './translate';

/** A toll-free number: who pays for its calls, its time zone, rules (first match wins) and default target. */
@Entity('tollfree')
export class TollFreeNumber {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  e164: string;

  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('text')
  timezone: string;

  @Column('text', { name: 'default_target' })
  defaultTarget: string;

  @Column('jsonb')
  rules: TollFreeRule[];

  /** Increases on every change; the matching row of tollfree_versions holds the same entry. */
  @Column('integer')
  version: number;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;
}

export const changeKinds = ['create', 'update', 'delete'] as const;

/** One change of one entry: who, when, and the whole entry as it stood after it (before it, for a delete). */
@Entity('tollfree_versions')
export class TollFreeVersion {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  e164: string;

  @Column('integer')
  version: number;

  @Column('text')
  change: (typeof changeKinds)[number];

  /** The API key id (`config` for the ADMIN_API_KEY). */
  @Column('text', { name: 'changed_by' })
  changedBy: string;

  @Column('timestamptz', { name: 'changed_at' })
  changedAt: Date;

  @Column('jsonb')
  entry: TollFreeEntry;
}

export type RangeKind = 'tollFree' | 'payphone';

/** An operator-configured number range: more toll-free numbers than libphonenumber knows, or payphones. */
@Entity('tollfree_ranges')
export class TollFreeRange {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  prefix: string;

  @Column('text')
  kind: RangeKind;

  @Column('text', { nullable: true })
  note: string | null;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;
}
