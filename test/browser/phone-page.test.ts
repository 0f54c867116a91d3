/**
 * The /phone page in headless Chromium against a real gateway process, for what needs no call:
 * it loads entirely from the gateway, every control is reachable by its label and by keyboard, a
 * wrong password is refused before any SIP and said in the live status line, and it fits a
 * phone's screen. Screenshots go to test-artifacts/browser/.
 */
import { startGatewayProcess, type GatewayProcess } from '../security/gateway-process';
import { newAccount, newUser, type User } from '../calls/support';
import { freePort } from '../support/net';
import { contrastRatios, launchBrowser, type Browser } from './browser';
import { PhonePage } from './phone-page';

describe('/phone in Chromium: the page alone', () => {
  let gw: GatewayProcess;
  let browser: Browser;
  let user: User;
  const requests: string[] = [];

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 54800, rtpMax: 54898 });
    const calls = gw.asCallsGateway();
    user = await newUser(calls, await newAccount(calls));
    browser = await launchBrowser();
    browser.page.on('request', (r) => requests.push(r.url()));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('loads from the gateway alone, labelled, and refuses a wrong password in the live status line', async () => {
    const phone = new PhonePage(browser.page, gw.httpPort);
    await phone.open();
    expect(await phone.status()).toBe('Signed out');
    await phone.signIn(user.username, 'wrong-password-123');
    await phone.waitForStatus(/Sign-in failed: wrong username or password/);
    expect(await browser.page.getByRole('status').getAttribute('aria-live')).toBe('polite');
    await browser.screenshot('phone-wrong-password');
    // Nothing but this gateway's own origin was asked for: no CDN, no font, no analytics.
    const origin = `http://127.0.0.1:${gw.httpPort}/`;
    expect(requests.length).toBeGreaterThanOrEqual(4);
    expect(requests.filter((u) => !u.startsWith(origin))).toEqual([]);
    expect(browser.console()).not.toContain('[pageerror]');
  });

  it('is usable by keyboard: Tab walks username, password, settings, sign in; Enter submits', async () => {
    const phone = new PhonePage(browser.page, gw.httpPort);
    await phone.open();
    await browser.page.getByLabel('Username', { exact: true }).focus();
    const focused = () => browser.page.evaluate('document.activeElement.id || document.activeElement.tagName') as Promise<string>;
    const order = [await focused()];
    for (let i = 0; i < 3; i++) {
      await browser.page.keyboard.press('Tab');
      order.push(await focused());
    }
    expect(order).toEqual(['username', 'password', 'SUMMARY', 'signin']);
    await browser.page.getByLabel('Username', { exact: true }).fill(user.username);
    await browser.page.getByLabel('Password', { exact: true }).fill('another-wrong-one');
    await browser.page.keyboard.press('Enter');
    await phone.waitForStatus(/Sign-in failed/);
  });

  it('says so when the server address is wrong or unreachable, and lets the user correct it', async () => {
    const phone = new PhonePage(browser.page, gw.httpPort);
    await phone.open();
    await phone.signIn(user.username, user.password, 'http://127.0.0.1/');
    await phone.waitForStatus(/must start with ws:\/\/ or wss:\/\//);
    // The right password, a WebSocket address where nothing listens.
    await browser.page.getByLabel('SIP WebSocket URL').fill(`ws://127.0.0.1:${await freePort()}/`);
    await browser.page.getByRole('button', { name: 'Sign in' }).click();
    await phone.waitForStatus(/Cannot reach the server/);
    expect(await browser.page.getByRole('button', { name: 'Sign in' }).isEnabled()).toBe(true);
  });

  it('keeps text and controls at WCAG AA contrast (4.5:1) in light and dark schemes', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      await browser.page.emulateMedia({ colorScheme });
      const phone = new PhonePage(browser.page, gw.httpPort);
      await phone.open();
      // Each visible text element's colour against the first opaque background behind it.
      const ratios = await contrastRatios(browser.page, 'h1, h2, label, button, summary, #status, .hint, input');
      expect(ratios.length).toBeGreaterThanOrEqual(8);
      expect(ratios.filter((r) => r.ratio < 4.5)).toEqual([]);
    }
    await browser.page.emulateMedia({ colorScheme: 'light' });
  });

  it("fits a phone's screen: no sideways scrolling at 360 px, touch targets at least 44 px", async () => {
    await browser.page.setViewportSize({ width: 360, height: 740 });
    const phone = new PhonePage(browser.page, gw.httpPort);
    await phone.open();
    const overflow = (await browser.page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const signIn = await browser.page.getByRole('button', { name: 'Sign in' }).boundingBox();
    expect(signIn!.height).toBeGreaterThanOrEqual(44);
    const field = await browser.page.getByLabel('Username', { exact: true }).boundingBox();
    expect(field!.width).toBeGreaterThan(300);
    await browser.screenshot('phone-360px');
    await gw.expectAlive();
  });
});
