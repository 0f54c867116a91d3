/** What the users and registrations endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';
import { userStatuses } from './user.entity';

export const userOut = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  accountId: z.string().describe('the account that pays for the user’s calls'),
  status: z.enum(userStatuses),
  sipUri: z.string().describe('what a softphone registers as: the username at the gateway’s advertised SIP host and port (SIP_PUBLIC_ADDRESS, SIP_LISTEN)'),
  realm: z.string().describe('the digest realm (SIP_REALM) the phone authenticates in; not a host'),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const registrationOut = z.object({
  contact: z.string().describe('the Contact header as registered'),
  uri: z.string(),
  sourceAddress: z.string().describe('where the REGISTER came from: requests to the device go there (NAT)'),
  sourcePort: z.number().int(),
  transport: z.string(),
  node: z.string().nullable().describe('WebSocket bindings: the node holding the socket'),
  connection: z.string().nullable(),
  expiresAt: timestamp,
  expiresIn: z.number().int().describe('seconds left'),
  q: z.number().nullable(),
  userAgent: z.string().nullable(),
  callId: z.string(),
  registeredAt: timestamp,
});
