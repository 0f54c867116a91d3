import { Column, Entity, PrimaryColumn } from 'typeorm';

export const didStatuses = ['available', 'assigned', 'quarantined'] as const;
export type DidStatus = (typeof didStatuses)[number];
export const forwardingModes = ['none', 'always', 'offline', 'busy', 'noAnswer'] as const;

export interface Forwarding {
  mode: (typeof forwardingModes)[number];
  /** E.164 number or SIP URI; absent when mode is `none`. */
  target?: string;
  noAnswerSeconds: number;
  /** Answer 302 with the target instead of forwarding through a trunk. */
  redirect: boolean;
}

/** A DID: a telephone number in the inventory, assigned to at most one user. */
@Entity('numbers')
export class Did {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  e164: string;

  @Column('char', { length: 2, nullable: true })
  country: string | null;

  @Column('text')
  type: string;

  @Column('text', { default: 'available' })
  status: DidStatus;

  @Column('uuid', { name: 'user_id', nullable: true })
  userId: string | null;

  @Column('jsonb')
  forwarding: Forwarding;

  @Column('numeric', { name: 'monthly_fee', precision: 20, scale: 6, default: '0' })
  monthlyFee: string;

  @Column('timestamptz', { name: 'quarantined_until', nullable: true })
  quarantinedUntil: Date | null;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;
}
