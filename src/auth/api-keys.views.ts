/** What the API keys endpoints answer, as zod for the OpenAPI document (platform/openapi.ts). */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';

export const apiKeyOut = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(['admin', 'operator', 'billing']),
  prefix: z.string().describe('the first characters of the secret (gwk_…), to tell keys apart'),
  createdAt: timestamp,
  revokedAt: timestamp.nullable(),
});

export const createdApiKeyOut = apiKeyOut.extend({
  secret: z.string().describe('the opaque API key (gwk_…), shown only this once; send it as Authorization: Bearer <secret>'),
});
