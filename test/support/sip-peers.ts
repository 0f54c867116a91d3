/**
 * Runs the real SIP peers the tests drive (SIPp, sipsak, baresip) as child processes, bounded in
 * time, on loopback only. Every run is killed when its time is up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PeerRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Files the peer wrote into its working directory (SIPp's -trace_* outputs). */
  dir: string;
}

export function runPeer(command: string, args: string[], timeoutMs = 30_000, cwd?: string): Promise<PeerRun> {
  const dir = cwd ?? mkdtempSync(join(tmpdir(), 'gw-peer-'));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, dir });
    });
  });
}

export interface SippOptions {
  scenario: string;
  port: number;
  service?: string;
  authUser?: string;
  authPass?: string;
  vars?: Record<string, string | number>;
  transport?: 'u1' | 't1';
  calls?: number;
  rate?: number;
  lostPercent?: number;
  extra?: string[];
  timeoutSeconds?: number;
}

/** SIPp as a UAC against the gateway on 127.0.0.1:port; exit code 0 means every call succeeded. */
export function sipp(o: SippOptions): Promise<PeerRun> {
  const timeout = o.timeoutSeconds ?? 15;
  const args = [
    `127.0.0.1:${o.port}`,
    '-sf', o.scenario,
    '-i', '127.0.0.1',
    '-p', '0',
    '-t', o.transport ?? 'u1',
    '-m', String(o.calls ?? 1),
    '-r', String(o.rate ?? 10),
    '-timeout', `${timeout}s`,
    '-timeout_error',
    '-nostdin',
  ];
  if (o.service) args.push('-s', o.service);
  if (o.authUser) args.push('-au', o.authUser);
  if (o.authPass) args.push('-ap', o.authPass);
  for (const [k, v] of Object.entries(o.vars ?? {})) args.push('-set', k, String(v));
  // SIPp's default of 5 retransmissions would fail a call every few runs by chance alone under loss.
  if (o.lostPercent) args.push('-lost', String(o.lostPercent), '-max_non_invite_retrans', '20', '-max_invite_retrans', '20');
  args.push(...(o.extra ?? []));
  return runPeer('sipp', args, (timeout + 10) * 1000);
}

/** The last row of SIPp's -trace_stat CSV, as a column → value map. */
export function sippStats(run: PeerRun): Record<string, string> {
  const file = readdirSync(run.dir).find((f) => f.endsWith('.csv'));
  if (!file) throw new Error(`SIPp wrote no statistics in ${run.dir}`);
  const lines = readFileSync(join(run.dir, file), 'utf8').trim().split('\n');
  const header = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  return Object.fromEntries(header.map((h, i) => [h, last[i]]));
}
