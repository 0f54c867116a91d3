import { Column, Entity, PrimaryColumn } from 'typeorm';

export const userStatuses = ['active', 'disabled'] as const;
export type UserStatus = (typeof userStatuses)[number];

/** An internet user: a SIP identity billed to an account. Only digest HA1s are stored, never the password. */
@Entity('users')
export class User {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  username: string;

  /** The realm the HA1s were computed for. */
  @Column('text')
  realm: string;

  @Column('char', { name: 'ha1_md5', length: 32 })
  ha1Md5: string;

  @Column('char', { name: 'ha1_sha256', length: 64 })
  ha1Sha256: string;

  @Column('text', { name: 'display_name', nullable: true })
  displayName: string | null;

  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('text', { default: 'active' })
  status: UserStatus;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;
}
