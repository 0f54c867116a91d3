/**
 * The operator console (/console) in headless Chromium against a real gateway process: log in,
 * the dashboard's charts after SIPp calls, provisioning through the forms, a live call hung up,
 * its CDR and SIP ladder, a toll-free rule edited and dry-run, a field's validation message,
 * /admin/queues with the same session, logout, and no request to any other host. Each step ends
 * in an assertion on the page and a screenshot under test-artifacts/console/ (git-ignored).
 *
 * Ports: the gateway's RTP 62500-62598, the test's RTP endpoints 62700-62799, SIPp peers 64000-64099.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { startGatewayProcess, type GatewayProcess } from '../security/gateway-process';
import { answered, type CallsGateway, expectSuccess, newRoute, newUser, registerDevice, sippClient, sippServer, type User } from '../calls/support';
import { rtpPacket, UdpPeer } from '../media/udp-peer';
import { contrastRatios, launchBrowser, until, type Browser } from '../browser/browser';
import { unique, uniqueUsNumber } from '../support/app';
import { ADMIN_KEY } from '../support/env';

const ARTIFACTS = resolve(__dirname, '../../test-artifacts/console');
const TRUNK_PORT = 64001;
const CALLER_PORT = 64011;

describe('/console in Chromium against a real gateway', () => {
  let gw: GatewayProcess;
  let calls: CallsGateway;
  let browser: Browser;
  let page: Page;
  let origin: string;
  let caller: User;
  let trunkName: string;
  let accountName: string;
  const requests: string[] = [];
  /** The number of the call held up, hung up from the console, then looked up in the CDRs. */
  const heldDestination = uniqueUsNumber();

  const shot = async (name: string) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };
  const open = async (view: string) => {
    await page.goto(`${origin}/console#/${view}`);
    await page.getByRole('heading', { level: 1 }).waitFor();
  };
  const status = (form: string) => page.getByRole('form', { name: form }).getByRole('status');

  /** One answered call from the user through the trunk (SIPp both sides), ended by the user after `holdMs`. */
  const answeredCall = async (destination: string, holdMs: number) => {
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: TRUNK_PORT, vars: { rtp: 62710 }, pauseMs: 300 });
    const phone = sippClient(calls, { scenario: 'uac-answered.xml', dialled: destination, from: caller.username, user: caller, rtp: 62700, localPort: CALLER_PORT, pauseMs: holdMs });
    await expectSuccess(phone, 'caller');
    await expectSuccess(trunk, 'trunk');
  };

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 62500, rtpMax: 62598 });
    calls = gw.asCallsGateway();
    origin = `http://127.0.0.1:${gw.httpPort}`;
    // What the forms need to choose from, and the SIPp calls' account, user, trunk and routes.
    accountName = unique('acct');
    const accountId = (await gw.t.http().post('/v1/accounts').send({ name: accountName, currency: 'USD', rateDeckId: gw.deckId }).expect(201)).body.id as string;
    await gw.t.http().post(`/v1/accounts/${accountId}/topups`).send({ amount: '100' }).expect(201);
    caller = await newUser(calls, accountId);
    trunkName = unique('trunk');
    const trunkId = (await gw.t.http().post('/v1/trunks').send({ name: trunkName, host: '127.0.0.1', port: TRUNK_PORT, transport: 'udp' }).expect(201)).body.id as string;
    await newRoute(calls, heldDestination, trunkId);
    // A few calls for the dashboard's charts (the CDRs are what they are drawn from).
    for (let i = 0; i < 3; i++) {
      const destination = uniqueUsNumber();
      await newRoute(calls, destination, trunkId);
      await answeredCall(destination, 600);
    }
    browser = await launchBrowser();
    page = browser.page;
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('request', (r) => requests.push(r.url()));
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('logs in with an API key: a wrong key is refused at the field, the right one opens the dashboard', async () => {
    await page.goto(`${origin}/console`);
    const key = page.getByLabel('API key');
    await key.fill('gwk_not-a-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await until('the field message', async () => (await page.locator('.field-error').textContent()) === 'unknown or revoked API key');
    expect(await key.getAttribute('aria-invalid')).toBe('true');
    await key.fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    expect(await page.getByText('Role:').textContent()).toContain('admin');
    // The session cookie is HttpOnly and SameSite=Strict, and the page's script cannot read it.
    const cookie = (await browser.context.cookies(origin)).find((c) => c.name === 'gw_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate('document.cookie')).toBe('');
    await shot('01-logged-in');
  });

  it('shows the calls of the last hours in four non-empty charts, and the CDR queue and registrations now', async () => {
    await open('dashboard');
    const charts = page.locator('figure.chart');
    await until('the charts drawn with points', async () => (await charts.count()) === 4 && (await charts.evaluateAll((fs) => fs.every((f) => Number(f.getAttribute('data-points')) > 0))));
    expect(await page.locator('figure.chart canvas').count()).toBe(4);
    const captions = await page.locator('figure.chart figcaption').allTextContents();
    expect(captions.map((c) => c.split(' (')[0])).toEqual(['Calls per minute', 'ASR', 'ACD', 'Post-dial delay']);
    // Every series is labelled with its trunk's name and direction.
    for (const c of captions) expect(c).toContain(`${trunkName} · outbound`);
    const attempts = Number(await page.getByRole('group', { name: 'Attempts in window' }).locator('.card-value').textContent());
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(await page.getByRole('group', { name: 'CDR queue depth' }).locator('.card-value').textContent()).toMatch(/^\d+$/);
    expect(await page.getByRole('group', { name: 'Calls in progress' }).locator('.card-value').textContent()).toBe('0');
    await shot('02-dashboard');
  });

  const newAccountName = unique('acct');
  const newUsername = unique('cu');
  const newNumber = uniqueUsNumber();
  const routePrefix = uniqueUsNumber().slice(1);

  it('provisions an account, a user, a number and a route through the forms', async () => {
    await open('accounts');
    const account = page.getByRole('form', { name: 'New account' });
    await account.getByLabel('Name').fill(newAccountName);
    const deckName = (await gw.t.http().get(`/v1/rate-decks/${gw.deckId}`).expect(200)).body.name as string;
    await account.getByLabel('Rate deck').selectOption({ label: `${deckName} (USD)` });
    await account.getByLabel('Max concurrent calls').fill('3');
    await account.getByRole('button', { name: 'Create account' }).click();
    await until('account created', async () => /^Account .* created/.test((await status('New account').textContent()) ?? ''));
    await page.getByRole('link', { name: newAccountName }).waitFor();

    await open('users');
    const user = page.getByRole('form', { name: 'New user' });
    await user.getByLabel('SIP username').fill(newUsername);
    await user.getByLabel('SIP password').fill('console-pass-123');
    await user.getByLabel('Account').selectOption({ label: newAccountName });
    await user.getByRole('button', { name: 'Create user' }).click();
    await until('user created', async () => (await status('New user').textContent()) === `User ${newUsername} created.`);
    await page.getByRole('cell', { name: newUsername, exact: true }).waitFor();

    await open('numbers');
    const number = page.getByRole('form', { name: 'Add a number' });
    await number.getByLabel('Number').fill(newNumber);
    await number.getByLabel('Assign to').selectOption({ label: newUsername });
    await number.getByRole('button', { name: 'Add number' }).click();
    await until('number added', async () => (await status('Add a number').textContent()) === `Number ${newNumber} added.`);
    const row = page.getByRole('row').filter({ hasText: newNumber });
    await until('number listed with its user', async () => (await row.textContent())?.includes(newUsername));

    await open('routing');
    const route = page.getByRole('form', { name: 'New route' });
    await route.getByLabel('Prefix').fill(routePrefix);
    await route.getByLabel('Trunk').selectOption({ label: `${trunkName} (127.0.0.1:${TRUNK_PORT})` });
    await route.getByLabel('Priority').fill('7');
    await route.getByRole('button', { name: 'Create route' }).click();
    await until('route created', async () => (await status('New route').textContent()) === `Route ${routePrefix} → ${trunkName} created.`);
    // The least-cost dry run for a number under that prefix tries that trunk.
    const lookup = page.getByRole('form', { name: 'Route lookup' });
    await lookup.getByLabel('Destination number').fill(`+${routePrefix}`);
    await lookup.getByRole('button', { name: 'Look up' }).click();
    const tried = page.getByRole('list', { name: 'Trunks in the order tried' });
    await tried.waitFor();
    expect(await tried.getByRole('listitem').first().textContent()).toContain(`${trunkName} (prefix ${routePrefix}, priority 7`);
    await shot('03-provisioned-route');

    // The API has them as the forms said.
    const accounts = (await gw.t.http().get('/v1/accounts?limit=1000').expect(200)).body.data as { name: string; maxConcurrentCalls: number | null; rateDeckId: string }[];
    expect(accounts.find((a) => a.name === newAccountName)).toMatchObject({ maxConcurrentCalls: 3, rateDeckId: gw.deckId });
    expect((await gw.t.http().get(`/v1/numbers/${encodeURIComponent(newNumber)}`).expect(200)).body.userId).toBeTruthy();
  });

  it("shows the API's validation message at the field of a wrong input", async () => {
    await open('users');
    const user = page.getByRole('form', { name: 'New user' });
    await user.getByLabel('SIP username').fill('has space');
    await user.getByLabel('SIP password').fill('short');
    await user.getByLabel('Account').selectOption({ label: newAccountName });
    await user.getByRole('button', { name: 'Create user' }).click();
    const password = user.getByLabel('SIP password');
    await until('password marked invalid', async () => (await password.getAttribute('aria-invalid')) === 'true');
    // The message is the API's, tied to the control by aria-describedby.
    const describedBy = (await password.getAttribute('aria-describedby'))!.split(' ');
    const messages = await Promise.all(describedBy.map((id) => page.locator(`[id="${id}"]`).textContent()));
    expect(messages).toContain('expected at least 8 characters');
    expect(await user.getByLabel('SIP username').getAttribute('aria-invalid')).toBe('true');
    expect(await user.locator('.field.invalid').count()).toBe(2);
    // Focus went to the first field the API named.
    expect(await page.evaluate('document.activeElement && document.activeElement.name')).toBe('username');
    await shot('04-field-message');
  });

  it('shows who is registered, from where and with which user agent', async () => {
    await registerDevice(calls, caller, 64020, 120);
    await open('users');
    const row = page.getByRole('row').filter({ hasText: caller.username });
    await until('the device listed', async () => (await row.textContent())?.includes('127.0.0.1:64020 over udp, SIPp register scenario'));
    await open('dashboard');
    // At least this one: the run's earlier test files may have left live registrations under the same Redis prefix.
    await until('the registered user counted', async () => Number(await page.getByRole('group', { name: 'Registered users' }).locator('.card-value').textContent()) >= 1);
    await open('users');
    await row.waitFor();
    await shot('05-registrations');
  });

  let heldCallId = '';

  it('shows a live call with its packet counts and hangs it up', async () => {
    const callerRtp = await UdpPeer.open(62720);
    const calleeRtp = await UdpPeer.open(62722);
    try {
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: TRUNK_PORT, vars: { rtp: calleeRtp.port }, pauseMs: 200, timeoutSeconds: 40 });
      const held = sippClient(calls, { scenario: 'uac-until-bye.xml', dialled: heldDestination, from: caller.username, user: caller, rtp: callerRtp.port, localPort: CALLER_PORT, timeoutSeconds: 40 });
      const [relay] = await Promise.all([answered(held), answered(trunk)]);
      for (let i = 0; i < 20; i++) await callerRtp.send(rtpPacket(100 + i, { ssrc: 0x1234 }), relay.port);
      await open('calls');
      const row = page.getByRole('row').filter({ hasText: heldDestination });
      await row.waitFor();
      expect(await row.textContent()).toContain('answered');
      await until('the caller packets counted', async () => Number(await row.locator('[data-testid="rtp-caller"]').textContent()) >= 20);
      heldCallId = ((await gw.t.http().get('/v1/calls').expect(200)).body.data as { callId: string; dialed: string }[]).find((c) => c.dialed === heldDestination)!.callId;
      await shot('06-live-call');
      await row.getByRole('button', { name: /Hang up/ }).click();
      await until('hang-up said', async () => (await page.getByRole('status').first().textContent())?.startsWith('Hung up the call'));
      await expectSuccess(held, 'held caller (BYE from the gateway)');
      await expectSuccess(trunk, 'trunk (BYE from the gateway)');
      await until('the call gone from the list', async () => (await page.getByText('no call in progress on this node.').count()) === 1);
      await shot('07-hung-up');
    } finally {
      await callerRtp.close();
      await calleeRtp.close();
    }
  });

  it('finds the CDR of that call and opens its SIP ladder', async () => {
    await open('cdrs');
    const search = page.getByRole('form', { name: 'Search CDRs' });
    await search.getByLabel('Number (caller, dialled or callee)').fill(heldDestination);
    await search.getByLabel('Disposition').selectOption('answered');
    await search.getByRole('button', { name: 'Search' }).click();
    await until('one CDR found', async () => (await status('Search CDRs').textContent()) === '1 CDR(s)');
    const row = page.getByRole('row').filter({ hasText: heldDestination });
    expect(await row.textContent()).toContain('answered');
    // The CSV export link carries the same search.
    const exportHref = await page.getByRole('link', { name: 'Export these CDRs as CSV' }).getAttribute('href');
    expect(exportHref).toContain(`number=${encodeURIComponent(heldDestination)}`);
    await row.getByRole('link', { name: /SIP ladder/ }).click();
    const ladder = page.getByRole('img', { name: /^SIP ladder: \d+ messages between / });
    await ladder.waitFor();
    expect(await page.getByText(heldCallId).count()).toBe(1);
    // Both legs: the caller's phone, the gateway and the trunk are its lifelines.
    const hosts = await ladder.locator('text.host').allTextContents();
    expect(hosts).toEqual(expect.arrayContaining([`127.0.0.1:${CALLER_PORT}`, `127.0.0.1:${gw.sipPort}`, `127.0.0.1:${TRUNK_PORT}`]));
    const labels = await ladder.locator('g.msg > text:not(.time)').allTextContents();
    expect(labels).toEqual(expect.arrayContaining(['INVITE', '407 Proxy Authentication Required', '180 Ringing', '200 OK', 'ACK', 'BYE']));
    await ladder.getByRole('button', { name: /^INVITE sip:/ }).first().click();
    expect(await page.getByRole('region', { name: 'SIP message' }).locator('pre').textContent()).toMatch(/^INVITE sip:/);
    await shot('08-sip-ladder');
  });

  it('edits a toll-free rule and dry-runs the translation at a chosen instant', async () => {
    const accountId = ((await gw.t.http().get('/v1/accounts?limit=1000').expect(200)).body.data as { id: string; name: string }[]).find((a) => a.name === accountName)!.id;
    const e164 = `+1800${String(2_000_000 + Math.floor(Math.random() * 7_999_999))}`;
    await gw.t
      .http()
      .post('/v1/tollfree')
      .send({ e164, accountId, timezone: 'America/New_York', defaultTarget: '+12125550100', rules: [{ name: 'office hours', when: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeRanges: [{ from: '09:00', to: '17:00' }] }, action: { route: '+12125550111' } }] })
      .expect(201);
    await page.goto(`${origin}/console#/tollfree/${encodeURIComponent(e164)}`);
    const entry = page.getByRole('form', { name: 'Toll-free entry' });
    await entry.getByLabel('Rule 1 route to').waitFor();
    // A wrong time range first: the API's message lands at the rule's field.
    await entry.getByLabel('Rule 1 time ranges').fill('08:00-25:00');
    await entry.getByRole('button', { name: 'Save entry' }).click();
    await until('time range refused at its field', async () => (await entry.getByLabel('Rule 1 time ranges').getAttribute('aria-invalid')) === 'true');
    expect(await entry.locator('.field.invalid .field-error').first().textContent()).toContain('expected HH:MM (00:00 to 24:00)');
    await entry.getByLabel('Rule 1 time ranges').fill('08:00-18:00');
    await entry.getByLabel('Rule 1 route to').fill('+12125550199');
    // A second rule that blocks in the evening: choosing "block" shows the block fields only.
    await entry.getByRole('button', { name: 'Add a rule' }).click();
    await entry.getByLabel('Rule 2 name').fill('evenings');
    await entry.getByLabel('Rule 2 time ranges').fill('18:00-24:00');
    expect(await entry.getByLabel('Rule 2 route to').count()).toBe(1);
    await entry.getByLabel('Rule 2 action').selectOption('block');
    expect(await entry.getByLabel('Rule 2 route to').count()).toBe(0);
    await entry.getByLabel('Rule 2 block reason').fill('closed');
    await entry.getByRole('button', { name: 'Save entry' }).click();
    await until('saved', async () => (await status('Toll-free entry').textContent()) === 'Saved version 2.');
    const saved = (await gw.t.http().get(`/v1/tollfree/${encodeURIComponent(e164)}`).expect(200)).body;
    expect(saved.rules).toEqual([
      expect.objectContaining({ name: 'office hours', when: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeRanges: [{ from: '08:00', to: '18:00' }] }, action: { route: '+12125550199' } }),
      expect.objectContaining({ name: 'evenings', when: { timeRanges: [{ from: '18:00', to: '24:00' }] }, action: { block: 'closed', sipCode: 403 } }),
    ]);

    const dry = page.getByRole('form', { name: 'Translation dry run' });
    const result = page.getByTestId('dry-run-result');
    // Monday 2026-12-07 13:00 in the browser's zone (the test's TZ): the entry's zone decides the rule.
    const monday = '2026-12-07T13:00';
    // The page reads datetime-local in the browser's zone, which is this process's (same TZ): the same instant here.
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', weekday: 'short', hour: 'numeric', hourCycle: 'h23' }).formatToParts(new Date(monday));
    const nyHour = Number(parts.find((p) => p.type === 'hour')!.value);
    const nyDay = parts.find((p) => p.type === 'weekday')!.value;
    await dry.getByLabel('At (your local time)').fill(monday);
    await dry.getByRole('button', { name: 'Dry run' }).click();
    await result.waitFor();
    const inHours = nyDay === 'Mon' && nyHour >= 8 && nyHour < 18;
    expect(await result.textContent()).toContain(inHours ? 'Routed to +12125550199 by rule “office hours”, version 2' : 'Routed to +12125550100 by the default target, version 2');
    // A Sunday is never office hours.
    await dry.getByLabel('At (your local time)').fill('2026-12-06T15:00');
    await dry.getByRole('button', { name: 'Dry run' }).click();
    await until('Sunday translated', async () => (await result.textContent())?.includes('Routed to +12125550100 by the default target'));
    await shot('09-tollfree-dry-run');
  });

  it('is usable by keyboard and keeps text at WCAG AA contrast (4.5:1)', async () => {
    await open('accounts');
    // Tab from the top of a fresh load: the skip link, then the sections in order; Enter follows a link.
    await page.reload();
    await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor();
    const focused = () => page.evaluate('document.activeElement.textContent.trim()') as Promise<string>;
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused());
    }
    expect(order).toEqual(['Skip to content', 'Dashboard', 'Live calls']);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Live calls', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: 'Live calls' }).getAttribute('aria-current')).toBe('page');
    for (const view of ['accounts', 'cdrs', 'dashboard']) {
      await open(view);
      const ratios = await contrastRatios(page, 'h1, h2, label, button, a, th, td, caption, .hint, .card-label, .card-detail, .field-error, input, select');
      expect(ratios.length).toBeGreaterThanOrEqual(10);
      expect(ratios.filter((r) => r.ratio < 4.5)).toEqual([]);
    }
  });

  it('opens /admin/queues with the session, without Google Fonts', async () => {
    await page.goto(`${origin}/admin/queues`);
    await page.getByText('cdr-rating').first().waitFor({ timeout: 20_000 });
    // Its own API answered the session too: the queues' job counts are drawn.
    await page.getByRole('main').getByText(/^\d+ Jobs?$/).first().waitFor({ timeout: 20_000 });
    expect(await page.locator('link[href*="fonts.googleapis.com"]').count()).toBe(0);
    await shot('10-admin-queues');
  });

  it('logs out: the session is gone for the API and the dashboard', async () => {
    await open('dashboard');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    expect(await page.evaluate(`fetch('/v1/overview').then((r) => r.status)`)).toBe(401);
    const queues = await page.goto(`${origin}/admin/queues`);
    expect(queues?.status()).toBe(401);
    await page.goto(`${origin}/console`);
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    await shot('11-logged-out');
  });

  it('asked no host but the gateway for anything', () => {
    expect(requests.length).toBeGreaterThan(20);
    expect(requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual([]);
    expect(browser.console()).not.toContain('[pageerror]');
  });
});
