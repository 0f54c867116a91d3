/**
 * The /phone page as a user works it: through its labelled fields and named buttons (so the tests
 * also hold the page to being usable by label, as a screen reader user would), and the status line.
 */
import type { Page } from 'playwright-core';
import { until } from './browser';

export class PhonePage {
  constructor(
    readonly page: Page,
    private readonly httpPort: number,
  ) {}

  async open(): Promise<void> {
    await this.page.goto(`http://127.0.0.1:${this.httpPort}/phone`);
  }

  status(): Promise<string> {
    return this.page.getByRole('status').innerText();
  }

  async waitForStatus(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    let last = '';
    try {
      return await until(`status matching ${pattern}`, async () => {
        last = await this.status();
        return pattern.test(last) ? last : undefined;
      }, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}; the status line says ${JSON.stringify(last)}`);
    }
  }

  /** Signs in; `server` and `domain` fill the override fields under "Server settings". */
  async signIn(username: string, password: string, server?: string, domain?: string, relayOnly = false): Promise<void> {
    await this.page.getByLabel('Username', { exact: true }).fill(username);
    await this.page.getByLabel('Password', { exact: true }).fill(password);
    if (server || domain || relayOnly) {
      await this.page.getByText('Server settings').click();
      if (server) await this.page.getByLabel('SIP WebSocket URL').fill(server);
      if (domain) await this.page.getByLabel('SIP domain').fill(domain);
      if (relayOnly) await this.page.getByLabel('Send audio through the TURN relay only').check();
    }
    await this.page.getByRole('button', { name: 'Sign in' }).click();
  }

  async call(target: string): Promise<void> {
    await this.page.getByLabel('Number or username').fill(target);
    await this.page.getByRole('button', { name: 'Call', exact: true }).click();
  }

  async answer(): Promise<void> {
    await this.page.getByRole('alertdialog').waitFor({ state: 'visible', timeout: 15_000 });
    await this.page.getByRole('button', { name: 'Answer' }).click();
  }

  async hangUp(): Promise<void> {
    await this.page.getByRole('button', { name: 'Hang up' }).click();
  }

  registered(): Promise<boolean> {
    return this.page.evaluate('window.phoneDebug.registered') as Promise<boolean>;
  }
}

/** Expressions for the probes of browser.ts: the /phone page's live call. */
export const PHONE_REMOTE_STREAM = 'window.phoneDebug.remoteStream';
export const PHONE_PEER_CONNECTION = 'window.phoneDebug.peerConnection';
