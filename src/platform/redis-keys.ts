/**
 * Redis key names that must stay together, and the few helpers that keep multi-key work Redis
 * Cluster safe. In a cluster a key lives in hash slot CRC16(k) mod 16384, where k is the part inside
 * the key's first `{...}` (its hash tag) or else the whole name; a Lua script or MULTI runs only when
 * all its keys are in one slot (else CROSSSLOT). Audit of every key family (issue 15):
 *
 * - registrar bindings `<p>:reg:<user>`, trunk channels `<p>:calls:trunk:<id>`, digest nonce counts
 *   `<p>:nc:<nonce>`: each script touches one key; nothing to tag.
 * - SIP and /phone login limits (`<p>:authfail:<ip>`, `<p>:authblock:<ip>`, `<p>:authuser:<h>:fail`,
 *   `<p>:authuser:<h>:ok:<ip>`, `<p>:phonelogin:*`): per address and per username, so never one
 *   slot; they are read and counted one key per command (countInWindow), not in a MULTI.
 * - BullMQ: its scripts touch many keys of a queue (and of parent/child jobs across queues), so the
 *   queue prefix carries a hash tag: `<p>:{bull}` (bullPrefix in src/billing/billing-queues.ts).
 * - credit control `<p>:billing:{holds,hexp,hseq,snap}:<account>` with `<p>:billing:epoch` and
 *   `<p>:billing:recovering`: NOT cluster safe, on purpose for now. Every script reads the global
 *   epoch (Redis lost the billing keys?) and the recovery window beside the account's four keys.
 *   Tagging the account's keys alone does not help (the script still spans slots); tagging all of
 *   them with one tag puts all billing on one shard and renames live holds, which a rolling upgrade
 *   would not see. The fix is an epoch per slot group (`<p>:billing:{g}:epoch` with the account's
 *   keys in group g) and a re-assert per group: docs/scaling.md ("Redis") says so. Until then the
 *   gateway needs one Redis primary (with replicas or Sentinel), which is also all createRedis
 *   connects to: it does not speak the cluster protocol.
 *
 * Imports nothing of the domain.
 */
import type { Redis } from 'ioredis';

/** `<prefix>:{<group>}`: every key built on it hashes to the slot of `group`. */
export function hashTagged(prefix: string, group: string): string {
  return `${prefix}:{${group}}`;
}

/**
 * INCR a counter and give it `windowSeconds` to live from its first count (EXPIRE NX), in one
 * MULTI on that one key (cluster safe); resolves with the new count.
 */
export async function countInWindow(redis: Redis, key: string, windowSeconds: number): Promise<number> {
  const [[, count]] = (await redis.multi().incr(key).expire(key, windowSeconds, 'NX').exec()) as [[null, number], unknown];
  return count;
}
