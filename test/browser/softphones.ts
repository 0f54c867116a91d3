/**
 * One shape for the two browser SIP libraries, so every call flow runs with both: JsSIP through
 * the /phone page as a user works it (labels and buttons), and SIP.js through the minimal test page
 * (acceptance 2: interoperability must not depend on our own page).
 */
import type { GatewayProcess } from '../security/gateway-process';
import { dominantFrequency, inboundAudio, launchBrowser, until, type Browser, type InboundAudio } from './browser';
import { PHONE_PEER_CONNECTION, PHONE_REMOTE_STREAM, PhonePage } from './phone-page';
import { SIPJS_PEER_CONNECTION, SIPJS_REMOTE_STREAM, SipjsPage } from './sipjs-page';

export { closeSipjsServer } from './sipjs-page';

export type Library = 'jssip' | 'sipjs';

export interface Credentials {
  username: string;
  password: string;
}

export interface BrowserPhone {
  readonly library: Library;
  readonly browser: Browser;
  register(user: Credentials): Promise<void>;
  /** Dials a number or a username. */
  call(target: string): Promise<void>;
  answer(): Promise<void>;
  hangUp(): Promise<void>;
  /** Waits until the call is up. */
  established(timeoutMs?: number): Promise<void>;
  /** Waits until no call is up. */
  idle(timeoutMs?: number): Promise<void>;
  /** The dominant frequency of what it hears. */
  hears(): Promise<{ hz: number; level: number } | undefined>;
  inbound(): Promise<InboundAudio | undefined>;
  close(): Promise<void>;
}

/**
 * A fresh Chromium whose microphone plays `toneHz`, on the library's page, not yet registered.
 * `server`: the SIP WebSocket URL (default the gateway's ws:// listener); a wss:// one with a
 * self-signed certificate is accepted.
 */
export async function openPhone(library: Library, gw: GatewayProcess, toneHz: number, o: { server?: string } = {}): Promise<BrowserPhone> {
  if (!o.server && !gw.wsPort) throw new Error('the gateway process has no SIP over WebSocket listener (SIP_WS_LISTEN)');
  const server = o.server ?? `ws://127.0.0.1:${gw.wsPort}/`;
  const domain = '127.0.0.1';
  const browser = await launchBrowser(toneHz, { ignoreHTTPSErrors: server.startsWith('wss:') });
  const common = { library, browser, close: () => browser.close() };
  if (library === 'jssip') {
    const page = new PhonePage(browser.page, gw.httpPort);
    await page.open();
    return {
      ...common,
      register: async (u) => {
        await page.signIn(u.username, u.password, server, domain);
        await page.waitForStatus(/^Ready: signed in as /);
      },
      call: (target) => page.call(target),
      answer: () => page.answer(),
      hangUp: () => page.hangUp(),
      established: async (ms = 15_000) => void (await page.waitForStatus(/^In call$/, ms)),
      idle: async (ms = 15_000) => void (await page.waitForStatus(/^Call (ended|failed)/, ms)),
      hears: () => dominantFrequency(browser.page, PHONE_REMOTE_STREAM),
      inbound: () => inboundAudio(browser.page, PHONE_PEER_CONNECTION),
    };
  }
  const page = new SipjsPage(browser.page);
  await page.open();
  return {
    ...common,
    register: (u) => page.register({ server, domain, ...u }),
    call: async (target) => void (await page.call(target, domain)),
    answer: () => page.answer(),
    hangUp: async () => void (await page.hangUp()),
    established: async (ms = 15_000) => {
      let last = '';
      await until('SIP.js call established', async () => (last = await page.state()) === 'Established', ms).catch((e: Error) => {
        throw new Error(`${e.message}; the session is ${last}`);
      });
    },
    idle: async (ms = 15_000) => void (await until('SIP.js call ended', async () => (await page.state()) === 'Terminated', ms)),
    hears: () => dominantFrequency(browser.page, SIPJS_REMOTE_STREAM),
    inbound: () => inboundAudio(browser.page, SIPJS_PEER_CONNECTION),
  };
}

/** Within a few FFT bins (48 kHz / 8192 ≈ 5.9 Hz each) of `hz`. */
export const near = (measured: number, hz: number) => Math.abs(measured - hz) <= 15;

/** Waits until `phone` hears a tone near `hz` (the far end's microphone, or its own echoed). */
export async function expectToHear(phone: BrowserPhone, hz: number, timeoutMs = 15_000): Promise<{ hz: number; level: number }> {
  let last: { hz: number; level: number } | undefined;
  try {
    return await until(`${phone.library} hears ${hz} Hz`, async () => {
      last = await phone.hears();
      return last && near(last.hz, hz) ? last : undefined;
    }, timeoutMs, 300);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last measured ${JSON.stringify(last)}; inbound ${JSON.stringify(await phone.inbound().catch(() => undefined))}\n--- console ---\n${phone.browser.console().slice(-3000)}`);
  }
}

/** Inbound RTP is PCMU and its packet count grows between two readings. */
export async function expectPcmuFlowing(phone: BrowserPhone): Promise<{ first: InboundAudio; second: InboundAudio }> {
  const first = await until(`${phone.library} inbound-rtp`, () => phone.inbound());
  const second = await until(`${phone.library} inbound-rtp packets growing`, async () => {
    const s = await phone.inbound();
    return s && s.packetsReceived > first.packetsReceived ? s : undefined;
  });
  expect(second.codec).toBe('audio/PCMU');
  expect(second.clockRate).toBe(8000);
  return { first, second };
}
