/** What the calls endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';

const counters = z.object({ received: z.number().int(), forwarded: z.number().int() });

export const callOut = z.object({
  id: z.string(),
  callId: z.string(),
  direction: z.string(),
  state: z.string(),
  accountId: z.string().nullable(),
  userId: z.string().nullable(),
  trunkId: z.string().nullable(),
  trunk: z.string().nullable().describe('the trunk’s name'),
  caller: z.string().nullable(),
  dialed: z.string().nullable(),
  callee: z.string().nullable(),
  translatedTo: z.string().nullable(),
  startedAt: timestamp,
  answeredAt: timestamp.nullable(),
  maxSeconds: z.number().int().nullable().describe('the credit the call may use, in seconds'),
  media: z.object({ fromCaller: counters, fromCallee: counters }).passthrough().nullable().describe('RTP packet counts of the relay'),
});
