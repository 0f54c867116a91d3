/** Request schemas of the numbers API (zod: validation and OpenAPI from one source). */
import { z } from 'zod';
import { pageQuery } from '../platform/pagination';
import { money, uuid } from '../platform/validation';
import { didStatuses, forwardingModes } from './did.entity';

export const forwardingInput = z
  .strictObject({
    mode: z.enum(forwardingModes),
    target: z.string().trim().min(1).max(256).optional(),
    noAnswerSeconds: z.number().int().min(5).max(300).default(20),
    redirect: z.boolean().default(false),
  })
  .refine((f) => f.mode === 'none' || f.target !== undefined, { path: ['target'], message: 'required unless mode is none' });

export const createNumber = z.strictObject({
  e164: z.string().min(1).max(32),
  userId: uuid.nullable().default(null),
  forwarding: forwardingInput.default({ mode: 'none', noAnswerSeconds: 20, redirect: false }),
  monthlyFee: money.default('0'),
});

export const updateNumber = z.strictObject({
  userId: uuid.nullable().optional(),
  forwarding: forwardingInput.optional(),
  monthlyFee: money.optional(),
});

export const numberQuery = pageQuery.extend({
  status: z.enum(didStatuses).optional(),
  userId: uuid.optional(),
  country: z.string().regex(/^[A-Z]{2}$/).optional(),
  type: z.string().max(32).optional(),
  prefix: z.string().regex(/^\+?[0-9]{1,15}$/, 'expected leading digits of an E.164 number').optional(),
});
