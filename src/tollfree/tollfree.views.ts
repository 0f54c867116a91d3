/**
 * What the toll-free endpoints answer, as zod for the OpenAPI document (platform/openapi.ts), and
 * the rule semantics of translate.ts in words (also in docs/tollfree.md).
 */
import { z } from 'zod';
import { timestamp } from '../platform/openapi';
import { blockCodes, callerTypes, weekdays } from './translate';

export const RULES_DESCRIPTION =
  'Rules are tried in their order; the first rule whose conditions all hold acts, and later rules are not read. ' +
  'No rule matching routes the call to defaultTarget. The conditions of one rule are ANDed; the values within one condition are ORed ' +
  '(any of the prefixes, any of the days, any of the ranges); a condition left out matches every call. ' +
  'Time and date conditions are read at the call’s instant in the entry’s time zone, each on its own. ' +
  'A split sends each call to one target, chosen by a stable hash of its call id over 10,000 buckets laid out by the shares in order, ' +
  'so a call’s retransmissions and failover always reach the same target.';

const range = (what: string) => z.object({ from: z.string(), to: z.string() }).describe(what);

export const conditionsOut = z
  .object({
    callerPrefixes: z.array(z.string()).optional().describe('the caller’s E.164 starts with one of these (+ included); a withheld caller matches none'),
    callerTypes: z.array(z.enum(callerTypes)).optional().describe('libphonenumber’s type of the caller, or payphone from /v1/tollfree-ranges; unknown for a withheld caller'),
    days: z.array(z.enum(weekdays)).optional().describe('local day of the week'),
    timeRanges: z.array(range('local HH:MM, from inclusive, to exclusive (24:00 allowed); from > to crosses midnight')).optional(),
    dateRanges: z.array(range('local YYYY-MM-DD, both ends included')).optional(),
  })
  .describe('every condition given must hold (AND); within one, any value (OR); {} matches every call');

export const actionOut = z
  .object({
    route: z.string().optional().describe('send the call to this E.164 number'),
    split: z
      .array(z.object({ target: z.string(), percent: z.number().describe('up to 2 decimals; the shares sum to 100') }))
      .optional()
      .describe('share calls between targets by percentage, stably per call id'),
    block: z.string().optional().describe('refuse the call with this reason'),
    sipCode: z.union(blockCodes.map((c) => z.literal(c))).optional().describe('the refusal’s SIP code (403 or 603)'),
  })
  .describe('exactly one of route, split, block');

export const ruleOut = z.object({ id: z.string(), name: z.string(), when: conditionsOut, action: actionOut });

const entryShape = {
  e164: z.string().describe('the toll-free number'),
  accountId: z.string().describe('the account that pays for its calls'),
  timezone: z.string().describe('IANA time zone the time and date conditions are read in'),
  defaultTarget: z.string().describe('where a call goes when no rule matches'),
  rules: z.array(ruleOut).describe(RULES_DESCRIPTION),
};

export const entryOut = z.object({ id: z.string(), ...entryShape, version: z.number().int(), createdAt: timestamp, updatedAt: timestamp });

export const versionOut = z.object({
  version: z.number().int(),
  change: z.enum(['create', 'update', 'delete']),
  changedBy: z.string().describe('the API key id, or config'),
  changedAt: timestamp,
  entry: z.object(entryShape),
});

export const dryRunOut = z
  .object({
    target: z.string().optional().describe('routed: where the call goes'),
    blocked: z.literal(true).optional(),
    reason: z.string().optional(),
    sipCode: z.number().int().optional(),
    ruleId: z.string().nullable().describe('the rule that acted; null when the default target applied'),
    ruleName: z.string().nullable(),
    version: z.number().int().describe('the entry version in force at `at`'),
    at: timestamp,
  })
  .describe('either { target, ruleId, ruleName } or { blocked: true, reason, sipCode, ruleId, ruleName }, with version and at');

export const rangeOut = z.object({
  id: z.string(),
  prefix: z.string(),
  kind: z.enum(['tollFree', 'payphone']),
  note: z.string().nullable(),
  createdAt: timestamp,
});
