/** Request schemas of the trunks and routes API. */
import { z } from 'zod';
import { pageQuery } from '../platform/pagination';
import { uuid } from '../platform/validation';
import { normaliseCidr } from './cidr';
import { transports } from './trunk.entity';

const host = z
  .string()
  .trim()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:.]+|[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?)$/, 'expected a host name or IP address, without scheme or port')
  .max(253);

const cidrList = z
  .array(z.string().max(64))
  .max(1000)
  .transform((list, ctx) =>
    list.map((c, i) => {
      const n = normaliseCidr(c);
      if (!n) ctx.addIssue({ code: 'custom', path: [i], message: `${c} is not an IP address or CIDR` });
      return n ?? c;
    }),
  );

export const createTrunk = z.strictObject({
  name: z.string().trim().min(1).max(200),
  host,
  port: z.number().int().min(1).max(65535).default(5060),
  transport: z.enum(transports).default('udp'),
  username: z.string().min(1).max(128).nullable().default(null),
  password: z.string().min(1).max(256).nullable().default(null),
  inboundAddresses: cidrList.default([]).describe('IPs or CIDRs the trunk sends calls from; INVITEs from them are inbound trunk calls'),
  maxChannels: z.number().int().min(1).max(1_000_000).nullable().default(null),
  enabled: z.boolean().default(true),
});

export const updateTrunk = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  host: host.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  transport: z.enum(transports).optional(),
  username: z.string().min(1).max(128).nullable().optional(),
  password: z.string().min(1).max(256).nullable().optional(),
  inboundAddresses: cidrList.optional(),
  maxChannels: z.number().int().min(1).max(1_000_000).nullable().optional(),
  enabled: z.boolean().optional(),
});

export const trunkQuery = pageQuery.extend({ enabled: z.enum(['true', 'false']).transform((v) => v === 'true').optional() });

export const createRoute = z.strictObject({
  prefix: z
    .string()
    .regex(/^\+?[0-9]{0,15}$/, 'expected E.164 digits (an optional leading + is dropped); "" matches every number')
    .transform((p) => p.replace(/^\+/, ''))
    .describe('E.164 digits the destination starts with; the longest matching prefix wins; "" is the catch-all route (every number)'),
  trunkId: uuid.describe('the trunk calls matching the prefix go to'),
  priority: z.number().int().min(0).max(1_000_000).default(100).describe('lower first among routes of the same prefix (the next is failover)'),
  weight: z.number().int().min(1).max(1_000_000).default(1).describe('share among routes of equal prefix and priority'),
});

export const routeQuery = pageQuery.extend({
  prefix: z.string().regex(/^\+?[0-9]{0,15}$/).transform((p) => p.replace(/^\+/, '')).optional(),
  trunkId: uuid.optional(),
});

export const routeLookup = z.object({
  destination: z.string().regex(/^\+?[1-9][0-9]{1,14}$/, 'expected an E.164 number'),
  callId: z.string().max(200).default('lookup'),
});
