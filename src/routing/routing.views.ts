/** What the trunks and routes endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';

export const trunkOut = z.object({
  id: z.string(),
  name: z.string(),
  host: z.string(),
  port: z.number().int(),
  transport: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean().describe('the password itself is write-only'),
  inboundAddresses: z.array(z.string()).describe('CIDRs calls from this trunk come from'),
  maxChannels: z.number().int().nullable(),
  enabled: z.boolean(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const routeOut = z.object({
  id: z.string(),
  prefix: z.string().describe('E.164 digits without +; "" is the catch-all route that matches every number'),
  trunkId: z.string(),
  priority: z.number().int().describe('lower first, among routes of the same (longest matching) prefix'),
  weight: z.number().int().describe('share among routes of equal prefix and priority'),
  createdAt: timestamp,
});

export const candidateOut = z.object({
  routeId: z.string(),
  prefix: z.string(),
  priority: z.number().int(),
  weight: z.number().int(),
  trunkId: z.string(),
});
