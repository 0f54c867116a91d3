/**
 * The rules for closing the calls of a gateway node that died (issue 15): when a node counts as
 * lost, and where each of its answered calls ends. Pure functions on plain data; the queries are
 * in lost-calls.repository.ts and the orchestration in lost-calls.service.ts and
 * calls/lost-calls-sweep.ts. Imports nothing.
 *
 * A node refreshes its heartbeat every `interval` seconds; it is lost once LAPSE_HEARTBEATS of them
 * were missed. Its calls end at its last heartbeat (never before their answer, never after the
 * seconds credit control granted), so at most one heartbeat interval of talk is not billed: the
 * time between the last heartbeat and the crash.
 */

/** Heartbeats a node may miss before it counts as lost (one late beat is not a death). */
export const LAPSE_HEARTBEATS = 2;

/** Has a heartbeat written at `heartbeatAt` lapsed by `now`, for a node beating every `intervalSeconds`? */
export function hasLapsed(heartbeatAt: Date, intervalSeconds: number, now: Date): boolean {
  return now.getTime() - heartbeatAt.getTime() > LAPSE_HEARTBEATS * intervalSeconds * 1000;
}

/**
 * Where a lost node's answered call ends: at the node's last heartbeat (null: none known, so at
 * the answer), never before the answer, and cut at `maxSeconds` (the grant, which the node would
 * have enforced). The duration is rounded up to the second, as for every CDR.
 */
export function lostCallEnd(answeredAt: Date, lastHeartbeat: Date | null, maxSeconds: number | null): { endedAt: Date; durationSeconds: number } {
  let end = Math.max(answeredAt.getTime(), lastHeartbeat?.getTime() ?? answeredAt.getTime());
  if (maxSeconds !== null) end = Math.min(end, answeredAt.getTime() + maxSeconds * 1000);
  return { endedAt: new Date(end), durationSeconds: Math.ceil((end - answeredAt.getTime()) / 1000) };
}

/** An instance id names one start of one node: `<NODE_ID>/<random>`. */
export const instanceOf = (nodeId: string, boot: string) => `${nodeId}/${boot}`;

/** The NODE_ID of an instance id. */
export function nodeOfInstance(instance: string): string {
  const i = instance.lastIndexOf('/');
  return i < 0 ? instance : instance.slice(0, i);
}

/** The CDR's reason for a call closed because its node was lost. */
export const lostReason = (nodeId: string) => `node lost: ${nodeId}`;
