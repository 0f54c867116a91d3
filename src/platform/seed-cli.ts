/**
 * `npm run seed`: a small demo set in a running gateway, so the console and the lists are not empty
 * on a first look: two rate decks with rates, two accounts on them (one topped up), three users,
 * four numbers, two trunks with routes (a failover pair and the catch-all `""`), and two toll-free
 * numbers with rules. It goes through the REST API with the admin key, like an operator would, so
 * every validation applies and nothing reaches the database behind the services' back.
 *
 * Idempotent: each item is looked up by its natural key (deck and trunk names, which are unique;
 * account names; usernames; E.164 numbers; a route's prefix and trunk) and created only when
 * missing; the top-up carries an Idempotency-Key. A second run creates nothing. A user's password
 * is random, printed once when the user is created, and never stored here.
 *
 * No CDRs: the API has no way to make one but a call (DESIGN: CDRs come from calls).
 *
 * Usage: `npm run seed [-- --url http://127.0.0.1:3000]`; the key is ADMIN_API_KEY or
 * `$DATA_DIR/admin-api-key` (default ./.data), as the gateway itself reads them. Written with
 * fetch: a hundred lines of requests need no client library.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = Record<string, unknown>;

export interface SeedResult {
  created: string[];
  existing: string[];
  /** username → password, for the users this run created. */
  passwords: Record<string, string>;
}

class Api {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
    const typed: Record<string, string> = typeof body === 'string' ? { 'Content-Type': 'text/csv' } : body === undefined ? {} : { 'Content-Type': 'application/json' };
    const r = await fetch(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, ...typed, ...headers },
      body: typeof body === 'string' || body === undefined ? (body as string | undefined) : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? (JSON.parse(text) as Json) : {} };
  }

  async must(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Json> {
    const r = await this.call(method, path, body, headers);
    if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** Every item of a list (newest first), following the cursor. */
  async all(path: string): Promise<Json[]> {
    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.must('GET', `${path}${sep}limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...(page.data as Json[]));
      cursor = page.nextCursor as string | null;
    } while (cursor);
    return items;
  }
}

const RATE_HEADER = 'prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom,effectiveTo';
const DECKS = [
  {
    name: 'Demo retail USD',
    currency: 'USD',
    rates: ['1,United States and Canada,0.010000,0,6,6,,', '1212,New York City,0.008000,0,6,6,,', '1800,US toll-free,0.000000,0,1,1,,', '44,United Kingdom,0.020000,0.010000,30,6,,', '4420,London,0.015000,0,30,6,,', '33,France,0.025000,0,60,60,,'],
  },
  { name: 'Demo wholesale EUR', currency: 'EUR', rates: ['1,United States and Canada,0.004000,0,1,1,,', '44,United Kingdom,0.006000,0,1,1,,', '49,Germany,0.005000,0,1,1,,'] },
];
const ACCOUNTS = [
  { name: 'Demo Acme', deck: 'Demo retail USD', currency: 'USD', topUp: '50.00', limits: { allowedCountries: ['US', 'CA', 'GB', 'FR'], maxConcurrentCalls: 5 } },
  { name: 'Demo Globex', deck: 'Demo wholesale EUR', currency: 'EUR', topUp: null, limits: { creditLimit: '25.00', dailySpendLimit: '100.00' } },
];
const USERS = [
  { username: 'demo-alice', displayName: 'Alice (demo)', account: 'Demo Acme' },
  { username: 'demo-bob', displayName: 'Bob (demo)', account: 'Demo Acme' },
  { username: 'demo-carol', displayName: 'Carol (demo)', account: 'Demo Globex' },
];
const NUMBERS = [
  { e164: '+12125550160', user: 'demo-alice', monthlyFee: '1.00' },
  { e164: '+12125550161', user: 'demo-bob', monthlyFee: '1.00' },
  { e164: '+442071838750', user: 'demo-carol', monthlyFee: '2.50' },
  { e164: '+12125550169', user: null, monthlyFee: '1.00' },
];
const TRUNKS = [
  { name: 'demo-carrier-a', host: 'sip.carrier-a.example', port: 5060, transport: 'udp', inboundAddresses: ['192.0.2.10/32'] },
  { name: 'demo-carrier-b', host: 'sip.carrier-b.example', port: 5060, transport: 'udp', inboundAddresses: ['198.51.100.0/28'] },
];
const ROUTES = [
  { prefix: '1', trunk: 'demo-carrier-a', priority: 10 },
  { prefix: '1', trunk: 'demo-carrier-b', priority: 20 },
  { prefix: '44', trunk: 'demo-carrier-b', priority: 10 },
  { prefix: '', trunk: 'demo-carrier-a', priority: 100 },
];
const TOLLFREE = [
  {
    e164: '+18005550160',
    account: 'Demo Acme',
    timezone: 'America/New_York',
    defaultTarget: '+12125550199',
    rules: [
      { name: 'office hours', when: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeRanges: [{ from: '09:00', to: '17:00' }] }, action: { split: [{ target: '+12125550160', percent: 70 }, { target: '+12125550161', percent: 30 }] } },
    ],
  },
  {
    e164: '+18885550161',
    account: 'Demo Acme',
    timezone: 'America/Chicago',
    defaultTarget: '+13125550100',
    rules: [{ name: 'no payphones', when: { callerTypes: ['payphone'] }, action: { block: 'payphones are not accepted', sipCode: 603 } }],
  },
];

export async function seed(base: string, key: string): Promise<SeedResult> {
  const api = new Api(base.replace(/\/$/, ''), key);
  const result: SeedResult = { created: [], existing: [], passwords: {} };
  const note = (created: boolean, what: string) => (created ? result.created : result.existing).push(what);

  const decks = new Map((await api.all('/v1/rate-decks')).map((d) => [d.name as string, d]));
  for (const d of DECKS) {
    let deck = decks.get(d.name);
    if (!deck) deck = await api.must('POST', '/v1/rate-decks', { name: d.name, currency: d.currency });
    note(!decks.has(d.name), `rate deck ${d.name}`);
    // Rates only into an empty deck: an empty effectiveFrom means "now", so a re-import would add rows.
    if (deck.rates === 0 || deck.rates === undefined) await api.must('POST', `/v1/rate-decks/${deck.id as string}/rates`, `${RATE_HEADER}\n${d.rates.join('\n')}\n`);
    decks.set(d.name, deck);
  }

  const accounts = new Map((await api.all('/v1/accounts')).map((a) => [a.name as string, a]));
  for (const a of ACCOUNTS) {
    let account = accounts.get(a.name);
    note(!account, `account ${a.name}`);
    account ??= await api.must('POST', '/v1/accounts', { name: a.name, currency: a.currency, rateDeckId: decks.get(a.deck)!.id, ...a.limits });
    accounts.set(a.name, account);
    if (a.topUp) await api.must('POST', `/v1/accounts/${account.id as string}/topups`, { amount: a.topUp, reference: 'demo seed' }, { 'Idempotency-Key': `seed-${account.id as string}` });
  }

  const users = new Map<string, Json>();
  for (const u of USERS) {
    const [found] = (await api.must('GET', `/v1/users?username=${encodeURIComponent(u.username)}`)).data as Json[];
    note(!found, `user ${u.username}`);
    let user = found;
    if (!user) {
      const password = randomBytes(12).toString('base64url');
      user = await api.must('POST', '/v1/users', { username: u.username, password, displayName: u.displayName, accountId: accounts.get(u.account)!.id });
      result.passwords[u.username] = password;
    }
    users.set(u.username, user);
  }

  for (const n of NUMBERS) {
    const exists = (await api.call('GET', `/v1/numbers/${encodeURIComponent(n.e164)}`)).status === 200;
    note(!exists, `number ${n.e164}`);
    if (!exists) await api.must('POST', '/v1/numbers', { e164: n.e164, userId: n.user ? users.get(n.user)!.id : null, monthlyFee: n.monthlyFee });
  }

  const trunks = new Map((await api.all('/v1/trunks')).map((t) => [t.name as string, t]));
  for (const t of TRUNKS) {
    note(!trunks.has(t.name), `trunk ${t.name}`);
    if (!trunks.has(t.name)) trunks.set(t.name, await api.must('POST', '/v1/trunks', t));
  }

  for (const r of ROUTES) {
    const trunkId = trunks.get(r.trunk)!.id as string;
    const [found] = (await api.must('GET', `/v1/routes?prefix=${r.prefix}&trunkId=${trunkId}`)).data as Json[];
    note(!found, `route "${r.prefix}" → ${r.trunk}`);
    if (!found) await api.must('POST', '/v1/routes', { prefix: r.prefix, trunkId, priority: r.priority });
  }

  for (const e of TOLLFREE) {
    const exists = (await api.call('GET', `/v1/tollfree/${encodeURIComponent(e.e164)}`)).status === 200;
    note(!exists, `toll-free ${e.e164}`);
    if (!exists) await api.must('POST', '/v1/tollfree', { e164: e.e164, accountId: accounts.get(e.account)!.id, timezone: e.timezone, defaultTarget: e.defaultTarget, rules: e.rules });
  }
  return result;
}

function adminKey(): string {
  if (process.env.ADMIN_API_KEY) return process.env.ADMIN_API_KEY;
  const file = join(process.env.DATA_DIR ?? './.data', 'admin-api-key');
  if (!existsSync(file)) throw new Error(`no ADMIN_API_KEY and no ${file}: start the gateway once (npm start) or set ADMIN_API_KEY`);
  return readFileSync(file, 'utf8').trim();
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--url');
  const url = at >= 0 ? process.argv[at + 1] : `http://127.0.0.1:${process.env.HTTP_PORT ?? '3000'}`;
  const r = await seed(url, adminKey());
  console.log(`seeded ${url}: ${r.created.length} created, ${r.existing.length} already there`);
  for (const c of r.created) console.log(`  + ${c}`);
  for (const [user, password] of Object.entries(r.passwords)) console.log(`  password of ${user}: ${password} (shown once)`);
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(`seed failed: ${e.message}`);
    process.exit(1);
  });
}
