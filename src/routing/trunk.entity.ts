import { Column, Entity, PrimaryColumn } from 'typeorm';

export const transports = ['udp', 'tcp', 'tls'] as const;

/** A SIP trunk provider: where outbound calls go and whose addresses may send calls in. */
@Entity('trunks')
export class Trunk {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  name: string;

  @Column('text')
  host: string;

  @Column('integer', { default: 5060 })
  port: number;

  @Column('text', { default: 'udp' })
  transport: (typeof transports)[number];

  @Column('text', { nullable: true })
  username: string | null;

  /** Encrypted with SECRETS_KEY (SecretBox): the gateway must send it to the trunk, so it cannot be hashed. */
  @Column('text', { name: 'password_sealed', nullable: true })
  passwordSealed: string | null;

  @Column('cidr', { name: 'inbound_addresses', array: true, default: () => "'{}'" })
  inboundAddresses: string[];

  @Column('integer', { name: 'max_channels', nullable: true })
  maxChannels: number | null;

  @Column('boolean', { default: true })
  enabled: boolean;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;
}
