/**
 * Headless Debian Chromium for the browser tests, driven by playwright-core (STYLE.md: puppeteer-core
 * 25 needs Node 22). Each `Browser` is its own Chromium process with a fresh profile, whose fake
 * microphone plays a generated sine tone (a different frequency per browser, so a test can tell
 * whose audio it hears) and which grants the microphone without asking.
 *
 * In-page probes (dominant frequency of the remote audio through an AnalyserNode, inbound RTP from
 * getStats) are plain functions evaluated in the page: no test-only code ships in /phone.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of the browser tests (git-ignored). */
export const ARTIFACTS = resolve(__dirname, '../../test-artifacts/browser');

/** A mono 16-bit 48 kHz WAV of `seconds` of a sine at `hz` (Chromium loops the file as its microphone). */
export function toneWav(hz: number, seconds = 5, rate = 48_000): Buffer {
  const samples = rate * seconds;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 0.5 * 32767), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** The frequency its fake microphone sends. */
  toneHz: number;
  /** Console lines and page errors so far (shown when a test fails). */
  console(): string;
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fresh Chromium with a fake microphone playing `toneHz`. `ignoreHTTPSErrors`: accept the
 * self-signed certificate of a test's WSS listener (pages and WebSockets alike).
 */
export async function launchBrowser(toneHz = 440, o: { ignoreHTTPSErrors?: boolean } = {}): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-chromium-'));
  const wav = join(dir, `tone-${toneHz}.wav`);
  writeFileSync(wav, toneWav(toneHz));
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      // Without it Chromium gathers no ICE candidate on loopback.
      '--allow-loopback-in-peer-connection',
      // The remote audio element plays without a click, and the AnalyserNode's context runs.
      '--autoplay-policy=no-user-gesture-required',
    ],
    viewport: { width: 420, height: 860 },
    ignoreHTTPSErrors: o.ignoreHTTPSErrors ?? false,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  let log = '';
  const keep = (line: string) => {
    log += `${line}\n`;
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  page.on('console', (m) => keep(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => keep(`[pageerror] ${e.message}`));
  return {
    context,
    page,
    toneHz,
    console: () => log,
    screenshot: async (name) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    },
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The dominant frequency (Hz) of `streamExpr`'s audio, measured in the page with an AnalyserNode
 * over about one second (the strongest FFT bin, averaged over several frames). Undefined while
 * the stream carries silence.
 */
export async function dominantFrequency(page: Page, streamExpr: string): Promise<{ hz: number; level: number } | undefined> {
  return page.evaluate(`(async () => {
    const stream = ${streamExpr};
    if (!stream || stream.getAudioTracks().length === 0) return undefined;
    const ctx = new AudioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const sum = new Float32Array(analyser.frequencyBinCount);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatFrequencyData(bins);
      for (let b = 0; b < bins.length; b++) sum[b] += Number.isFinite(bins[b]) ? bins[b] : -200;
    }
    source.disconnect();
    await ctx.close();
    let best = 1;
    for (let b = 2; b < sum.length; b++) if (sum[b] > sum[best]) best = b;
    const level = sum[best] / 10;
    if (level < -90) return undefined;
    return { hz: (best * ctx.sampleRate) / analyser.fftSize, level };
  })()`);
}

export interface InboundAudio {
  packetsReceived: number;
  bytesReceived: number;
  codec?: string;
  clockRate?: number;
}

/** The audio inbound-rtp of `pcExpr`'s getStats(), with its codec's mimeType. */
export async function inboundAudio(page: Page, pcExpr: string): Promise<InboundAudio | undefined> {
  return page.evaluate(`(async () => {
    const pc = ${pcExpr};
    if (!pc) return undefined;
    const stats = await pc.getStats();
    let found;
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') found = s; });
    if (!found) return undefined;
    const codec = found.codecId ? stats.get(found.codecId) : undefined;
    return { packetsReceived: found.packetsReceived, bytesReceived: found.bytesReceived, codec: codec && codec.mimeType, clockRate: codec && codec.clockRate };
  })()`);
}

/** Each visible element of `selector`: its text colour's contrast ratio (WCAG) against the first opaque background behind it. */
export async function contrastRatios(page: Page, selector: string): Promise<{ el: string; ratio: number }[]> {
  return (await page.evaluate(`(() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.9) return c; } return [255, 255, 255]; };
    return [...document.querySelectorAll(${JSON.stringify(selector)})]
      .filter((el) => el.offsetParent !== null)
      .map((el) => { const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el)); return { el: el.id || el.tagName + (el.className ? '.' + el.className : ''), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) }; });
  })()`)) as { el: string; ratio: number }[];
}

/** Polls `check` until it returns a value, or fails with `what` after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
