// Runs SIPp (/usr/bin/sipp) against a server built on the library. Every run is bounded (-m, -timeout,
// -timeout_error), talks only over loopback (-i 127.0.0.1), and is killed when the test ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SIPP = '/usr/bin/sipp';
export const SCENARIOS = join(__dirname, '..', 'scenarios');

export interface SippRun {
  readonly code: number | null;
  readonly output: string;
}

const running = new Set<ChildProcess>();

/** A free UDP port on 127.0.0.1 for SIPp's own socket. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export async function runSipp(scenario: string, serverPort: number, options: { calls: number; lost?: number; timeoutSeconds?: number }): Promise<SippRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const localPort = await freeUdpPort();
  const args = [
    `127.0.0.1:${serverPort}`,
    '-sf', join(SCENARIOS, scenario),
    '-i', '127.0.0.1',
    '-p', String(localPort),
    '-m', String(options.calls),
    '-r', '20',
    '-timeout', `${options.timeoutSeconds ?? 30}s`,
    '-timeout_error',
    '-nostdin',
    '-max_retrans', '10',
    // With loss, SIPp's default of 5 retransmissions fails a call every few runs by chance alone
    // (0.36^6 per transaction at 20% loss each way); 20 keeps the test about the stack, not luck.
    ...(options.lost ? ['-lost', String(options.lost), '-max_non_invite_retrans', '20', '-max_invite_retrans', '20'] : []),
  ];
  const child = spawn(SIPP, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  running.delete(child);
  rmSync(dir, { recursive: true, force: true });
  return { code, output };
}

/** Kills any SIPp still running (call from afterEach/afterAll). */
export function killSipp(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
