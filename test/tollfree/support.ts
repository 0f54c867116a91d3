/** Shared by the toll-free integration tests: fresh toll-free numbers and an entry body to start from. */

const base = Math.floor(Math.random() * 7_000_000);
let counter = 0;

/** A toll-free number (+1 800 NXX XXXX) no other test of this run uses. */
export function uniqueTollFree(area: '800' | '888' | '877' = '800'): string {
  counter++;
  return `+1${area}${2_000_000 + ((base + counter * 7919) % 7_000_000)}`;
}

export function entryBody(e164: string, accountId: string, rules: unknown[] = []) {
  return { e164, accountId, timezone: 'America/New_York', defaultTarget: '+12125550100', rules };
}

export const enc = (e164: string) => encodeURIComponent(e164);
