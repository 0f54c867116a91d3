import { Column, Entity, PrimaryColumn } from 'typeorm';

export const roles = ['admin', 'operator', 'billing'] as const;
export type ApiRole = (typeof roles)[number];

@Entity('api_keys')
export class ApiKey {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  name: string;

  @Column('text')
  role: ApiRole;

  /** SHA-256 of the whole secret, hex. The secret itself is never stored. */
  @Column('text', { name: 'secret_hash' })
  secretHash: string;

  /** The first characters of the secret, so an operator can tell keys apart. */
  @Column('text')
  prefix: string;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;
}
