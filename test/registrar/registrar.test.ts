import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { REDIS } from '../../src/platform/redis';
import { startTestApp, TestApp, unique } from '../support/app';
import { eventually, freePort } from '../support/net';
import { runPeer, sipp, sippStats } from '../support/sip-peers';

const scenario = (name: string) => join(__dirname, 'scenarios', name);

/**
 * register.xml with other expected answers: `challenge` for the first (unauthenticated) REGISTER,
 * `final` for the authenticated one; SIPp has no variables in <recv response>, so we write a variant.
 */
function registerExpecting(final: number, challenge = 401): string {
  let xml = readFileSync(scenario('register.xml'), 'utf8');
  xml = xml.replace('<recv response="200" />', final === 423 ? '<recv response="423"><action><ereg regexp="[0-9]+" search_in="hdr" header="Min-Expires:" check_it="true" assign_to="min" /></action></recv><Reference variables="min" />' : `<recv response="${final}" />`);
  if (challenge !== 401) xml = xml.slice(0, xml.indexOf('<recv response="401"')) + `<recv response="${challenge}" />\n</scenario>\n`;
  const dir = mkdtempSync(join(tmpdir(), 'gw-scn-'));
  const file = join(dir, `register-${challenge}-${final}.xml`);
  writeFileSync(file, xml);
  return file;
}

interface Registration {
  contact: string;
  sourceAddress: string;
  sourcePort: number;
  transport: string;
  expiresIn: number;
  userAgent: string | null;
}

describe('registrar with real SIP peers', () => {
  let t: TestApp;
  let sipPort: number;
  let accountId: string;

  beforeAll(async () => {
    sipPort = await freePort();
    t = await startTestApp({ SIP_LISTEN: `127.0.0.1:${sipPort}`, SIP_MIN_EXPIRES: '30', SIP_AUTH_FAIL_LIMIT: '4', SIP_AUTH_BLOCK_SECONDS: '60' });
    accountId = (await t.http().post('/v1/accounts').send({ name: 'sip users', currency: 'USD' }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  async function newUser(password = 'sipp-secret-1') {
    const username = unique('sip');
    const user = (await t.http().post('/v1/users').send({ username, password, accountId }).expect(201)).body;
    return { username, password, id: user.id as string };
  }

  const registrations = async (userId: string): Promise<Registration[]> => (await t.http().get(`/v1/users/${userId}/registrations`).expect(200)).body.data;

  it('registers with digest, refreshes, and unregisters (SIPp)', async () => {
    const u = await newUser();
    // One local port for the three runs: the binding is keyed by the Contact, which names it.
    const port = await freePort();
    const register = (expires: number) =>
      sipp({ scenario: scenario('register.xml'), port: sipPort, service: u.username, authUser: u.username, authPass: u.password, vars: { expires }, extra: ['-p', String(port)] });

    const first = await register(120);
    expect(first.code).toBe(0);
    let list = await registrations(u.id);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ sourceAddress: '127.0.0.1', transport: 'udp', userAgent: 'SIPp register scenario' });
    expect(list[0].contact).toBe(`<sip:${u.username}@127.0.0.1:${port}>`);
    expect(list[0].expiresIn).toBeGreaterThan(110);
    expect(list[0].expiresIn).toBeLessThanOrEqual(120);

    const refresh = await register(3000);
    expect(refresh.code).toBe(0);
    list = await registrations(u.id);
    expect(list).toHaveLength(1);
    expect(list[0].expiresIn).toBeGreaterThan(2900);

    const gone = await register(0);
    expect(gone.code).toBe(0);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('refreshes the same binding from the same contact, and removes it with Expires 0', async () => {
    const u = await newUser();
    const port = await freePort();
    const register = (expires: number) =>
      sipp({ scenario: scenario('register.xml'), port: sipPort, service: u.username, authUser: u.username, authPass: u.password, vars: { expires }, extra: ['-p', String(port), '-trace_msg'] });
    expect((await register(60)).code).toBe(0);
    expect((await registrations(u.id)).map((r) => r.contact)).toEqual([`<sip:${u.username}@127.0.0.1:${port}>`]);
    const refresh = await register(600);
    expect(refresh.code).toBe(0);
    // The 200 lists every current binding with its remaining time (RFC 3261 §10.3 step 8).
    const messages = readFileSync(join(refresh.dir, readdirSync(refresh.dir).find((f) => f.endsWith('_messages.log'))!), 'utf8');
    const ok = messages.slice(messages.lastIndexOf('SIP/2.0 200 OK'));
    expect(ok).toMatch(new RegExp(`Contact: <sip:${u.username}@127\\.0\\.0\\.1:${port}>;expires=(600|599)\r\n`));
    const refreshed = await registrations(u.id);
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0].expiresIn).toBeGreaterThan(590);
    expect((await register(0)).code).toBe(0);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('answers 423 with Min-Expires for too brief an interval', async () => {
    const u = await newUser();
    const brief = await sipp({ scenario: registerExpecting(423), port: sipPort, service: u.username, authUser: u.username, authPass: u.password, vars: { expires: 5 } });
    expect(brief.code).toBe(0);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('gives an unknown user and a wrong password the same 401, then refuses the source after repeated failures', async () => {
    const u = await newUser();
    const refused = registerExpecting(401);
    const wrong = await sipp({ scenario: refused, port: sipPort, service: u.username, authUser: u.username, authPass: 'not-the-password', vars: { expires: 60 } });
    expect(wrong.code).toBe(0);
    const unknown = await sipp({ scenario: refused, port: sipPort, service: 'nobody-here', authUser: 'nobody-here', authPass: 'whatever', vars: { expires: 60 } });
    expect(unknown.code).toBe(0);
    expect(await registrations(u.id)).toEqual([]);
    // The limit is 4 in this test: two more failures reach it, and then even the right password is refused.
    for (let i = 0; i < 2; i++) {
      expect((await sipp({ scenario: refused, port: sipPort, service: u.username, authUser: u.username, authPass: 'nope', vars: { expires: 60 } })).code).toBe(0);
    }
    const blocked = await sipp({ scenario: registerExpecting(200, 403), port: sipPort, service: u.username, authUser: u.username, authPass: u.password, vars: { expires: 60 } });
    expect(blocked.code).toBe(0);
    const redis = t.app.get<Redis>(REDIS);
    await redis.del(`${t.config.redisPrefix}:authblock:127.0.0.1`, `${t.config.redisPrefix}:authfail:127.0.0.1`);
    expect((await sipp({ scenario: scenario('register.xml'), port: sipPort, service: u.username, authUser: u.username, authPass: u.password, vars: { expires: 60 } })).code).toBe(0);
  });

  it('absorbs retransmissions over lossy UDP (SIPp -lost)', async () => {
    const u = await newUser();
    const run = await sipp({
      scenario: scenario('register.xml'),
      port: sipPort,
      service: u.username,
      authUser: u.username,
      authPass: u.password,
      vars: { expires: 300 },
      calls: 20,
      rate: 20,
      lostPercent: 15,
      timeoutSeconds: 40,
      extra: ['-trace_stat', '-stf', 'stats.csv', '-fd', '1'],
    });
    const stats = sippStats(run);
    expect(Number(stats['SuccessfulCall(C)'])).toBe(20);
    expect(Number(stats['Retransmissions(C)'])).toBeGreaterThan(0);
    expect(run.code).toBe(0);
  });

  it('answers OPTIONS with 200 to sipsak', async () => {
    const run = await runPeer('sipsak', ['-v', '-s', `sip:ping@127.0.0.1:${sipPort}`, '-l', '0'], 15_000);
    expect(run.stdout).toMatch(/SIP\/2\.0 200 OK/);
    expect(run.stdout).toMatch(/Allow: .*OPTIONS.*REGISTER|Allow: .*REGISTER/);
    expect(run.code).toBe(0);
  });

  it('registers baresip, a real softphone', async () => {
    const u = await newUser('baresip-pass-1');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'gw-baresip-'));
    const localPort = await freePort();
    writeFileSync(join(dir, 'accounts'), `<sip:${u.username}@127.0.0.1:${sipPort};transport=udp>;auth_pass=${u.password};regint=60\n`);
    writeFileSync(
      join(dir, 'config'),
      [`sip_listen 127.0.0.1:${localPort}`, 'module_path /usr/lib/baresip/modules', 'module account.so', 'module_app menu.so', 'audio_player none', 'audio_source none', 'audio_alert none'].join('\n') + '\n',
    );
    const run = runPeer('baresip', ['-4', '-s', '-f', dir, '-t', '8'], 20_000, dir);
    const list = await eventually(async () => {
      const r = await registrations(u.id);
      return r.length > 0 ? r : undefined;
    }, 15_000, 200).catch(async (e: Error) => {
      const out = await run;
      throw new Error(`${e.message}; baresip said:\n${out.stdout.slice(-3000)}${out.stderr.slice(-1000)}`);
    });
    expect(list[0]).toMatchObject({ sourceAddress: '127.0.0.1', sourcePort: localPort, transport: 'udp' });
    expect(list[0].userAgent ?? '').toMatch(/baresip/i);
    await run;
  });
});

describe('registrations across a gateway restart', () => {
  it('keeps a binding through a restart and drops it when it expires', async () => {
    const sipPort = await freePort();
    const env = { SIP_LISTEN: `127.0.0.1:${sipPort}`, SIP_MIN_EXPIRES: '1' };
    let t = await startTestApp(env);
    const acc = (await t.http().post('/v1/accounts').send({ name: 'restart', currency: 'USD' }).expect(201)).body.id;
    const username = unique('rst');
    const user = (await t.http().post('/v1/users').send({ username, password: 'restart-pass', accountId: acc }).expect(201)).body;
    const run = await sipp({ scenario: join(__dirname, 'scenarios', 'register.xml'), port: sipPort, service: username, authUser: username, authPass: 'restart-pass', vars: { expires: 4 } });
    expect(run.code).toBe(0);
    await t.close();

    t = await startTestApp(env);
    try {
      const after = (await t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data;
      expect(after).toHaveLength(1);
      expect(after[0].sourceAddress).toBe('127.0.0.1');
      const expiresAt = Date.parse(after[0].expiresAt);
      await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 200));
      const expired = (await t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data;
      expect(expired).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
