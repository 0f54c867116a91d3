/**
 * The SIP.js test page (pages/sipjs.ts), bundled with esbuild as web/build.mjs bundles /phone, and
 * served to a Chromium page at the gateway's own origin through Playwright's request routing: the
 * page is same-origin with /phone (a secure context on 127.0.0.1) while the gateway never serves
 * test code.
 */
import { build } from 'esbuild';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { until } from './browser';

let bundle: Promise<string> | undefined;

/** The page's script, built once per test file. */
export function sipjsBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [resolve(__dirname, 'pages/sipjs.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100'],
    logLevel: 'warning',
  }).then((r) => r.outputFiles[0].text);
  return bundle;
}

const HTML = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SIP.js test page</title></head><body><p id="log" role="status">loading</p><audio id="remote" autoplay></audio><script src="/test-pages/sipjs.js"></script></body></html>';

export class SipjsPage {
  constructor(
    readonly page: Page,
    private readonly httpPort: number,
  ) {}

  async open(): Promise<void> {
    const js = await sipjsBundle();
    const origin = `http://127.0.0.1:${this.httpPort}`;
    await this.page.route(`${origin}/test-pages/**`, (route) => {
      const url = route.request().url();
      if (url.endsWith('/sipjs.js')) return route.fulfill({ status: 200, contentType: 'text/javascript', body: js });
      return route.fulfill({ status: 200, contentType: 'text/html', body: HTML });
    });
    await this.page.goto(`${origin}/test-pages/sipjs.html`);
    await until('SIP.js page ready', async () => (await this.page.locator('#log').innerText()) === 'ready');
  }

  async register(s: { server: string; domain: string; username: string; password: string }): Promise<void> {
    await this.page.evaluate(`window.sipjsTest.register(${JSON.stringify(s)})`);
    await until('SIP.js registered', () => this.page.evaluate('window.sipjsTest.registered') as Promise<boolean>);
  }

  call(target: string, domain: string): Promise<unknown> {
    return this.page.evaluate(`window.sipjsTest.call(${JSON.stringify(target)}, ${JSON.stringify(domain)})`);
  }

  async answer(): Promise<void> {
    await until('SIP.js incoming call', () => this.page.evaluate('window.sipjsTest.incoming') as Promise<boolean>);
    await this.page.evaluate('window.sipjsTest.answer()');
  }

  state(): Promise<string> {
    return this.page.evaluate('window.sipjsTest.state') as Promise<string>;
  }

  hangUp(): Promise<unknown> {
    return this.page.evaluate('window.sipjsTest.hangUp()');
  }
}

export const SIPJS_REMOTE_STREAM = 'window.sipjsTest.remoteStream';
export const SIPJS_PEER_CONNECTION = 'window.sipjsTest.peerConnection';
