/**
 * The real gateway as a child process (`node dist/src/main.js`, built by `npm test`'s pretest) for
 * the hostile-peer tests: a crash there ends that process, not Jest, so every test can check that
 * the very same process (same pid, never restarted) still answers OPTIONS when it is done.
 *
 * It uses this run's PostgreSQL database and Redis prefix (global-setup), SIP on 127.0.0.1 at a
 * free port, its own RTP range, and keeps the process's log (JSON lines) for assertions.
 * SIP over WebSocket listens on 127.0.0.1 at a port the kernel gives (env SIP_WS_LISTEN overrides;
 * `off` disables): `wsPort` is the bound port, read from the gateway's "SIP listening" log line.
 * Provisioning goes over real HTTP; `t.http()` has the same shape as the in-process TestApp's, so
 * the helpers of test/calls/support.ts and test/billing/support.ts work against it unchanged.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { resolve } from 'node:path';
import { authorised, type TestApp } from '../support/app';
import { ADMIN_KEY, REDIS_URL, SECRETS_KEY } from '../support/env';
import { freePort } from '../support/net';
import { type CallsGateway, TARIFF } from '../calls/support';
import { createDeck } from '../billing/support';

export interface GatewayProcess {
  proc: ChildProcess;
  pid: number;
  httpPort: number;
  sipPort: number;
  /** The SIP over WebSocket port (ws://127.0.0.1:wsPort/), or undefined when SIP_WS_LISTEN is off. */
  wsPort?: number;
  rtpMin: number;
  rtpMax: number;
  /** A rate deck with the call tests' tariffs (prefix 1 and 1212), as in startCallsGateway. */
  deckId: string;
  /** supertest against the process's HTTP port; admin key unless another (or null) is given. */
  t: Pick<TestApp, 'http'>;
  /** Everything the process wrote to stdout and stderr so far (pino JSON lines). */
  log(): string;
  /** The parsed JSON log lines so far (lines that are not JSON are left out). */
  logLines(): Record<string, unknown>[];
  /** True when the same process is running and answers an OPTIONS from 127.0.0.1 with 200. */
  answersOptions(timeoutMs?: number): Promise<boolean>;
  /** Fails the test unless the same process is still up and answers OPTIONS. */
  expectAlive(): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** The same process in the shape test/calls/support.ts's helpers (newUser, newTrunk, ...) take. */
  asCallsGateway(): CallsGateway;
}

export interface GatewayProcessOptions {
  rtpMin: number;
  rtpMax: number;
  env?: Record<string, string>;
  /** The README's default start: no DATABASE_URL, the embedded PostgreSQL in dataDir (migrated on start). */
  embedded?: { dataDir: string; pgPort: number };
  /** What /health/ready must answer before the process counts as started (default 200). */
  readyWithinMs?: number;
}

/** Sends OPTIONS from a fresh 127.0.0.1 socket; resolves with the status line's code, or undefined on silence. */
export async function optionsProbe(sipPort: number, timeoutMs = 2000, fromAddress = '127.0.0.1'): Promise<number | undefined> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(0, fromAddress, () => ok());
  });
  const local = socket.address();
  const branch = `z9hG4bK-probe-${Math.random().toString(36).slice(2)}`;
  const callId = `probe-${Math.random().toString(36).slice(2)}`;
  const message = [
    `OPTIONS sip:127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${local.address}:${local.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${local.address}>;tag=${branch.slice(-8)}`,
    `To: <sip:ping@127.0.0.1:${sipPort}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    return await new Promise<number | undefined>((ok) => {
      const timer = setTimeout(() => ok(undefined), timeoutMs);
      socket.on('message', (data) => {
        const text = data.toString('latin1');
        if (!text.includes(callId)) return;
        const m = /^SIP\/2\.0 (\d{3})/.exec(text);
        if (!m) return;
        clearTimeout(timer);
        ok(Number(m[1]));
      });
      socket.send(message, sipPort, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** The port of the `transport` listener in the gateway's "SIP listening" log line, or undefined. */
export function listeningPort(log: string, transport: 'UDP' | 'TCP' | 'WS' | 'WSS'): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"SIP listening"')) continue;
    try {
      const entry = JSON.parse(line) as { listening?: { transport: string; port: number }[] };
      const found = entry.listening?.find((l) => l.transport === transport);
      if (found) return found.port;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

export async function startGatewayProcess(o: GatewayProcessOptions): Promise<GatewayProcess> {
  const databaseUrl = process.env.GW_TEST_DATABASE_URL;
  if (!databaseUrl && !o.embedded) throw new Error('GW_TEST_DATABASE_URL is not set: run the tests through jest (global-setup creates the database)');
  const httpPort = await freePort();
  const sipPort = await freePort();
  const proc = spawn(process.execPath, [resolve(__dirname, '../../dist/src/main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      ...(o.embedded ? { DATA_DIR: o.embedded.dataDir, EMBEDDED_PG_PORT: String(o.embedded.pgPort) } : { DATABASE_URL: databaseUrl! }),
      REDIS_URL,
      REDIS_PREFIX: process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest',
      ADMIN_API_KEY: ADMIN_KEY,
      SECRETS_KEY,
      HTTP_PORT: String(httpPort),
      HTTP_HOST: '127.0.0.1',
      SIP_LISTEN: `127.0.0.1:${sipPort}`,
      SIP_WS_LISTEN: '127.0.0.1:0',
      SIP_PUBLIC_ADDRESS: '127.0.0.1',
      SIP_REALM: 'gateway.test',
      DEFAULT_COUNTRY: 'US',
      DB_MIGRATE_ON_START: o.embedded ? 'true' : 'false',
      LOG_LEVEL: 'info',
      RTP_PORT_MIN: String(o.rtpMin),
      RTP_PORT_MAX: String(o.rtpMax),
      CALL_RING_TIMEOUT_SECONDS: '3',
      TRUNK_SETUP_TIMEOUT_MS: '1500',
      MEDIA_INACTIVITY_SECONDS: '0',
      // Every peer of the tests is on 127.0.0.0/8; production refuses loopback media.
      MEDIA_ALLOW_LOOPBACK: 'true',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
    // Bounded: a flood test logs a lot; the newest 4 MiB are what assertions look at.
    if (output.length > 8 * 1024 * 1024) output = output.slice(-4 * 1024 * 1024);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const pid = proc.pid!;
  const streamsClosed = new Promise<void>((ok) => proc.once('close', () => ok()));

  const deadline = Date.now() + (o.readyWithinMs ?? (o.embedded ? 90_000 : 30_000));
  for (;;) {
    if (proc.exitCode !== null) {
      // Its last lines (the reason) may still be in the pipe: read them before telling.
      await Promise.race([streamsClosed, new Promise((r) => setTimeout(r, 2000))]);
      // The reason first (error and fatal lines, config errors), wherever Nest's own buffered lines put it.
      const reasons = output.split('\n').filter((l) => /"level":(50|60)|^config error/.test(l));
      throw new Error(`gateway exited with ${proc.exitCode} during start-up:\n${reasons.join('\n')}\n${output.slice(-4000)}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/health/ready`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gateway did not become ready in time:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const wsPort = listeningPort(output, 'WS');

  const t = { http: (key: string | null = ADMIN_KEY) => authorised(`http://127.0.0.1:${httpPort}`, key) } as Pick<TestApp, 'http'>;
  // A node without the api role serves no REST (docs/scaling.md, "Roles"): no deck then.
  const servesApi = !o.env?.ROLES || o.env.ROLES.split(',').includes('api');
  const deckId = !servesApi ? '' : await createDeck(t as TestApp, [
    `1,United States,${TARIFF.us.ratePerMinute},0.010000,1,1,`,
    `1212,New York,${TARIFF.nyc.ratePerMinute},0.020000,1,1,`,
    '1800,US toll-free,0.000000,0,1,1,',
  ]);

  const answersOptions = async (timeoutMs = 2000) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    // UDP may be lost under a flood the test just sent: three tries before calling it dead.
    for (let i = 0; i < 3; i++) {
      if ((await optionsProbe(sipPort, timeoutMs)) === 200) return proc.exitCode === null && proc.pid === pid;
    }
    return false;
  };

  const stop = () =>
    new Promise<void>((ok) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return ok();
      proc.once('exit', () => ok());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
    });

  return {
    proc,
    pid,
    httpPort,
    sipPort,
    wsPort,
    rtpMin: o.rtpMin,
    rtpMax: o.rtpMax,
    deckId,
    t,
    log: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    answersOptions,
    expectAlive: async () => {
      const alive = await answersOptions();
      if (!alive) throw new Error(`gateway process ${pid} is not answering OPTIONS (exit ${proc.exitCode}, signal ${proc.signalCode}):\n${output.slice(-4000)}`);
      expect(proc.pid).toBe(pid);
      expect(proc.exitCode).toBeNull();
    },
    stop,
    asCallsGateway: () => ({ t: t as TestApp, sipPort, rtpMin: o.rtpMin, rtpMax: o.rtpMax, deckId, close: stop }),
  };
}
