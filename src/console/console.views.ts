/** Zod view schemas of the console's own answers, for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';

export const sessionOut = z.object({
  role: z.enum(['admin', 'operator', 'billing']).describe("the API key's role, which the session stands for"),
  keyId: z.string().describe('the API key the session was opened with (its id, never the key)'),
});

export const loginOut = sessionOut.extend({
  expiresInSeconds: z.number().int().describe('the session lasts this long unless logged out (CONSOLE_SESSION_TTL_SECONDS)'),
});

export const overviewOut = z.object({
  at: timestamp,
  calls: z
    .object({ inProgress: z.number().int(), answered: z.number().int(), ringing: z.number().int() })
    .describe('calls in progress on the node that answered (each node counts its own)'),
  registrations: z.object({
    users: z.number().int().describe('users with at least one registered device'),
    devices: z.number().int(),
    truncated: z.boolean().describe('true when more than 5000 users are registered and only the first were counted'),
  }),
  cdrQueue: z
    .object({ waiting: z.number().int(), active: z.number().int(), delayed: z.number().int(), failed: z.number().int() })
    .describe('jobs of the CDR rating queue by state'),
});

export const registrationsOut = z.object({
  data: z.array(
    z.object({
      userId: z.string(),
      contact: z.string().describe("the device's Contact URI"),
      sourceAddress: z.string().describe('the address the REGISTER came from (behind NAT: the NAT)'),
      sourcePort: z.number().int(),
      transport: z.string().describe('udp, tcp, tls, ws or wss'),
      userAgent: z.string().nullable(),
      registeredAt: timestamp,
      expiresIn: z.number().int().describe('seconds until the binding lapses unless refreshed'),
    }),
  ),
  truncated: z.boolean().describe('true when more than 5000 users are registered and only the first are listed'),
});
