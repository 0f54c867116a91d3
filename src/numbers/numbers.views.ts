/** What the numbers endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { moneyOut, timestamp } from '../platform/openapi';
import { didStatuses, forwardingModes } from './did.entity';

export const numberOut = z.object({
  id: z.string(),
  e164: z.string(),
  country: z.string().nullable(),
  type: z.string().describe('from libphonenumber: geographic, mobile, tollFree, …'),
  status: z.enum(didStatuses).describe('available → assigned (userId set) → quarantined (userId null) → available after NUMBER_QUARANTINE_DAYS'),
  userId: z.string().nullable().describe('the user calls to this number ring'),
  forwarding: z.object({
    mode: z.enum(forwardingModes),
    target: z.string().optional().describe('E.164 number or SIP URI'),
    noAnswerSeconds: z.number().int(),
    redirect: z.boolean().describe('answer 302 with the target instead of forwarding through a trunk'),
  }),
  monthlyFee: moneyOut.describe('charged to the user’s account each month while assigned'),
  quarantinedUntil: timestamp.nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
