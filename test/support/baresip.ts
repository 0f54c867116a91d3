/**
 * baresip (Debian's 1.0), a real softphone, driven by the tests on loopback only.
 *
 * Each instance runs with its own config directory (`-f dir`): SIP on 127.0.0.1:<free port>,
 * audio without hardware (the `ausine` module sends a 440 Hz tone, no player is loaded, so RTP
 * flows both ways but nothing is played), and `ctrl_tcp` for control: JSON commands and events
 * as netstrings on a TCP port on 127.0.0.1. The account is created after the control connection
 * is up (`uanew`), so no event (REGISTER_OK first of all) can happen before we listen.
 *
 * It stops by itself: baresip is started with `-t <lifetime>`, and killed a few seconds after
 * that if it is still there; stop() ends it earlier.
 *
 * Known limits of baresip 1.0: its digest client fails on a challenge offering SHA-256 (the
 * gateway offers MD5 only by default); `sip_listen` also binds TLS on the port after the SIP
 * port, so that one must be free too.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net';

export interface BaresipAccount {
  username: string;
  password: string;
  /** The gateway's SIP port on 127.0.0.1 (the account's registrar and domain). */
  gatewayPort: number;
  /** Registration interval in seconds; 0 registers nothing. Default 60. */
  regint?: number;
  /** `auto` answers incoming calls at once (default), `manual` waits for accept(). */
  answermode?: 'auto' | 'manual';
  /** Audio codecs offered, in order. Default PCMU,PCMA. */
  codecs?: string;
}

export interface BaresipOptions {
  /** baresip quits by itself after this many seconds (`-t`), and is killed 5 s later. Default 90. */
  lifetimeSeconds?: number;
  /** RTP/RTCP ports baresip may use; keep it clear of the gateway's RTP_PORT_MIN–MAX. */
  rtpPorts?: [number, number];
  /** Write SIP messages into the log (`-s`). Default true: the log is what a failure shows. */
  sipTrace?: boolean;
}

/** One ctrl_tcp event, e.g. `{ type: 'CALL_ESTABLISHED', class: 'call', peeruri, id, param }`. */
export interface BaresipEvent {
  type: string;
  class?: string;
  accountaor?: string;
  direction?: 'incoming' | 'outgoing';
  peeruri?: string;
  id?: string;
  param?: string;
  /** Date.now() when it arrived. */
  at: number;
  [key: string]: unknown;
}

export interface BaresipResponse {
  ok: boolean;
  data: string;
}

interface Waiter {
  type: string;
  match?: (e: BaresipEvent) => boolean;
  resolve: (e: BaresipEvent) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const LOG_LIMIT = 400_000;

/** A TCP port on 127.0.0.1 that is free now. */
async function freeTcpPort(port = 0): Promise<number | undefined> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(undefined));
    s.listen(port, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

/** A SIP port free for UDP and TCP whose next port is free for TCP (baresip's TLS listener). */
async function freeSipPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (p < 65535 && (await freeTcpPort(p + 1)) !== undefined) return p;
  }
  throw new Error('no free SIP port pair for baresip on 127.0.0.1');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Baresip {
  /** Every event received, in order. */
  readonly events: BaresipEvent[] = [];
  dir = '';
  sipPort = 0;
  ctrlPort = 0;
  account?: BaresipAccount;

  private child?: ChildProcess;
  private socket?: Socket;
  private output = '';
  private rx = Buffer.alloc(0);
  private cursor = 0;
  private waiters = new Set<Waiter>();
  private pending = new Map<string, { resolve: (r: BaresipResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private tokens = 0;
  private exited?: { code: number | null; signal: NodeJS.Signals | null };
  private exitPromise?: Promise<void>;
  private killTimer?: NodeJS.Timeout;

  constructor(private readonly options: BaresipOptions = {}) {}

  /** The SIP URI of this phone's account, e.g. `sip:alice@127.0.0.1:5060`. */
  get aor(): string {
    if (!this.account) throw new Error('baresip has no account yet');
    return `sip:${this.account.username}@127.0.0.1:${this.account.gatewayPort}`;
  }

  /** Starts baresip, connects to its control port and creates the account (which then registers unless regint is 0). */
  async start(account: BaresipAccount): Promise<this> {
    if (this.child) throw new Error('baresip already started');
    this.account = account;
    this.dir = mkdtempSync(join(tmpdir(), 'gw-baresip-'));
    this.sipPort = await freeSipPort();
    do this.ctrlPort = await freePort();
    while (this.ctrlPort === this.sipPort + 1);
    const [rtpMin, rtpMax] = this.options.rtpPorts ?? [43000, 43998];
    writeFileSync(
      join(this.dir, 'config'),
      [
        `sip_listen 127.0.0.1:${this.sipPort}`,
        'net_interface 127.0.0.1',
        // Never ask a real resolver: every URI here is a literal address.
        'dns_server 127.0.0.1:53',
        'module_path /usr/lib/baresip/modules',
        'module g711.so',
        'module ausine.so',
        'module_app account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${this.ctrlPort}`,
        // ausine makes 48 kHz stereo only; baresip resamples to the codec's rate.
        'audio_source ausine,440',
        'ausrc_srate 48000',
        'ausrc_channels 2',
        'audio_player none',
        'audio_alert none',
        `rtp_ports ${rtpMin}-${rtpMax}`,
        'call_local_timeout 60',
        'call_max_calls 4',
      ].join('\n') + '\n',
    );
    writeFileSync(join(this.dir, 'accounts'), '');

    const lifetime = this.options.lifetimeSeconds ?? 90;
    const args = ['-4', '-f', this.dir, '-t', String(lifetime)];
    if (this.options.sipTrace ?? true) args.push('-s');
    const child = spawn('baresip', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => this.append(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.append(d.toString()));
    this.exitPromise = new Promise((resolve) => {
      child.on('error', (e) => {
        this.append(`\n[spawn error: ${e.message}]\n`);
        this.exited = { code: null, signal: null };
        this.failAll(new Error(`baresip could not start: ${e.message}`));
        resolve();
      });
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        clearTimeout(this.killTimer);
        this.failAll(new Error(`baresip exited (code ${code}, signal ${signal})`));
        resolve();
      });
    });
    this.killTimer = setTimeout(() => child.kill('SIGKILL'), (lifetime + 5) * 1000);
    this.killTimer.unref();

    try {
      await this.connect(10_000);
      const params = [
        `<sip:${account.username}@127.0.0.1:${account.gatewayPort};transport=udp>`,
        `auth_pass=${account.password}`,
        `regint=${account.regint ?? 60}`,
        `answermode=${account.answermode ?? 'auto'}`,
        `audio_codecs=${account.codecs ?? 'PCMU,PCMA'}`,
      ].join(';');
      const created = await this.command('uanew', params);
      if (!created.ok) throw new Error(`uanew failed: ${created.data}`);
    } catch (e) {
      await this.stop();
      throw new Error(`${(e as Error).message}\n${this.logTail()}`);
    }
    return this;
  }

  /**
   * The next event of this type (after the one the previous waitFor returned), optionally one
   * that `match` accepts. Events in between are passed over, not lost: `events` keeps them all.
   */
  waitFor(type: string, timeoutMs = 10_000, match?: (e: BaresipEvent) => boolean): Promise<BaresipEvent> {
    for (let i = this.cursor; i < this.events.length; i++) {
      const e = this.events[i];
      if (e.type === type && (!match || match(e))) {
        this.cursor = i + 1;
        return Promise.resolve(e);
      }
    }
    if (this.exited) return Promise.reject(new Error(`baresip has exited; no ${type}\n${this.describe()}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        type,
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${type} from baresip within ${timeoutMs} ms\n${this.describe()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Whether an event of this type has arrived at all (whatever waitFor consumed). */
  seen(type: string): boolean {
    return this.events.some((e) => e.type === type);
  }

  /** Sends a command of baresip's long command set (menu module) and returns its answer. */
  command(name: string, params = '', timeoutMs = 5_000): Promise<BaresipResponse> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error(`baresip control is not connected\n${this.logTail()}`));
    const token = `t${++this.tokens}`;
    const body = Buffer.from(JSON.stringify({ command: name, params, token }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip did not answer '${name}' within ${timeoutMs} ms\n${this.logTail()}`));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
      socket.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });
  }

  /** Places a call; CALL_RINGING / CALL_ESTABLISHED / CALL_CLOSED tell how it goes. */
  async dial(uri: string): Promise<void> {
    const r = await this.command('dial', uri);
    if (!r.ok) throw new Error(`dial ${uri} failed: ${r.data}\n${this.logTail()}`);
  }

  /** Hangs up the current call. */
  async hangup(): Promise<void> {
    const r = await this.command('hangup');
    if (!r.ok) throw new Error(`hangup failed: ${r.data}`);
  }

  /** Answers the current incoming call (answermode manual). */
  async accept(): Promise<void> {
    const r = await this.command('accept');
    if (!r.ok) throw new Error(`accept failed: ${r.data}`);
  }

  /** Everything baresip printed (the SIP trace included), the last LOG_LIMIT characters. */
  log(): string {
    return this.output;
  }

  logTail(chars = 6000): string {
    return `--- baresip log (last ${chars} characters) ---\n${this.output.slice(-chars)}`;
  }

  /** Ends baresip (SIGTERM, then SIGKILL after 3 s) and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    const child = this.child;
    this.socket?.destroy();
    if (child && !this.exited) {
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 3000);
      await this.exitPromise;
      clearTimeout(hard);
    }
    clearTimeout(this.killTimer);
    this.failAll(new Error('baresip stopped'));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private describe(): string {
    const types = this.events.map((e) => e.type + (e.param ? `(${e.param})` : '')).join(', ');
    return `events so far: ${types || 'none'}\n${this.logTail()}`;
  }

  private append(s: string): void {
    // menu prints a call status line every few hundred ms; keep the log to its tail.
    this.output += s.replace(/\x1b\[[0-9;]*m/g, '');
    if (this.output.length > LOG_LIMIT) this.output = this.output.slice(-LOG_LIMIT);
  }

  private async connect(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error('baresip exited before its control port opened');
      try {
        this.socket = await new Promise<Socket>((ok, fail) => {
          const s = createConnection({ host: '127.0.0.1', port: this.ctrlPort });
          s.once('connect', () => {
            s.off('error', fail);
            ok(s);
          });
          s.once('error', fail);
        });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`cannot connect to baresip's ctrl_tcp on 127.0.0.1:${this.ctrlPort}: ${(e as Error).message}`);
        await sleep(50);
      }
    }
    this.socket.on('data', (d: Buffer) => this.receive(d));
    this.socket.on('error', () => undefined);
  }

  /** Netstrings: `<length>:<json>,`. */
  private receive(data: Buffer): void {
    this.rx = Buffer.concat([this.rx, data]);
    for (;;) {
      const colon = this.rx.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.rx.subarray(0, colon).toString());
      if (!Number.isInteger(length)) {
        this.append(`\n[ctrl_tcp: bad netstring ${this.rx.subarray(0, 40).toString()}]\n`);
        this.rx = Buffer.alloc(0);
        return;
      }
      if (this.rx.length < colon + 1 + length + 1) return;
      const body = this.rx.subarray(colon + 1, colon + 1 + length).toString();
      this.rx = this.rx.subarray(colon + 1 + length + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(body);
      } catch {
        this.append(`\n[ctrl_tcp: not JSON: ${body}]\n`);
        continue;
      }
      if (msg.event) this.onEvent({ ...(msg as { type: string }), at: Date.now() });
      else if (msg.response) {
        const p = this.pending.get(String(msg.token));
        if (p) {
          this.pending.delete(String(msg.token));
          clearTimeout(p.timer);
          p.resolve({ ok: Boolean(msg.ok), data: String(msg.data ?? '') });
        }
      }
    }
  }

  private onEvent(e: BaresipEvent): void {
    this.events.push(e);
    for (const w of this.waiters) {
      if (w.type === e.type && (!w.match || w.match(e))) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        this.cursor = this.events.length;
        w.resolve(e);
        return;
      }
    }
  }

  private failAll(error: Error): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`${error.message}; no ${w.type}\n${this.describe()}`));
    }
    this.waiters.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }
}
