/**
 * The SIP.js test page (pages/sipjs.ts), bundled with esbuild as web/build.mjs bundles /phone, and
 * served by a small HTTP server of the test on 127.0.0.1 (a secure context, and the same host as
 * the gateway's WebSocket, as SIP_WS_ALLOWED_ORIGINS=same-host wants), so the gateway never
 * serves test code. (Playwright's request routing would serve it at the gateway's origin, but
 * Chromium then treats the page as public and its Local Network Access checks block the
 * WebSocket to 127.0.0.1.)
 */
import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

let server: Promise<Server> | undefined;

/** The test page's HTTP server on 127.0.0.1 (one per test file; closed with closeSipjsServer). */
function pageServer(): Promise<Server> {
  server ??= sipjsBundle().then(
    (js) =>
      new Promise<Server>((ok) => {
        const s = createServer((req, res) => {
          const isScript = req.url === '/test-pages/sipjs.js';
          res.writeHead(200, { 'Content-Type': isScript ? 'text/javascript' : 'text/html; charset=utf-8' });
          res.end(isScript ? js : HTML);
        });
        s.listen(0, '127.0.0.1', () => ok(s));
      }),
  );
  return server;
}

export async function closeSipjsServer(): Promise<void> {
  const s = await server;
  server = undefined;
  if (s) await new Promise<void>((ok) => s.close(() => ok()));
}

export class SipjsPage {
  constructor(readonly page: Page) {}

  async open(): Promise<void> {
    const port = ((await pageServer()).address() as AddressInfo).port;
    await this.page.goto(`http://127.0.0.1:${port}/test-pages/sipjs.html`);
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
