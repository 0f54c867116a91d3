/**
 * Starts the scale-out topology on one machine: a Kamailio edge (deploy/kamailio/kamailio.cfg) on
 * one SIP address, and N gateway nodes (`node dist/src/main.js`), each on its own loopback address,
 * sharing one PostgreSQL and one Redis. Used by `npm run cluster` (scripts/cluster.ts) and by the
 * multi-node test (test/scale/), so both run exactly this code.
 *
 * The nodes get SIP_TRUSTED_EDGES set to the edge's address, a distinct NODE_ID, SIP_PUBLIC_ADDRESS
 * set to their own address (it goes into Via, Contact and SDP) and their own RTP range. The edge's
 * dispatcher list names every node's SIP address. Nothing here is gateway logic: it spawns processes
 * and writes two files (the dispatcher list and the nodes' logs) under a temporary directory.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root: dist/scripts/ when compiled, scripts/ under ts (Jest). */
export function repoRoot(): string {
  const here = resolve(__dirname, '..');
  return here.endsWith('/dist') ? resolve(here, '..') : here;
}

export const KAMAILIO_CFG = (): string => join(repoRoot(), 'deploy/kamailio/kamailio.cfg');

export class ClusterError extends Error {}

/**
 * The path of `kamailio` (on PATH, or in Debian's /usr/sbin, which a user's PATH may lack), or a
 * ClusterError naming the Debian package.
 */
export function requireKamailio(path = process.env.PATH ?? '', sbin: readonly string[] = ['/usr/sbin', '/usr/local/sbin']): string {
  for (const dir of [...path.split(':').filter(Boolean), ...sbin]) {
    try {
      execFileSync(join(dir, 'kamailio'), ['-v'], { stdio: 'ignore', timeout: 5000 });
      return join(dir, 'kamailio');
    } catch {
      // not there
    }
  }
  throw new ClusterError('kamailio is not installed: the cluster needs it as its SIP edge. Install it with `apt-get install -y kamailio` (Debian package kamailio).');
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ClusterError(`${what}: expected an IPv4 address and port such as 127.0.0.1:5060 (got ${JSON.stringify(s)})`);
  return { host: m[1], port: Number(m[2]) };
}

export interface ClusterOptions {
  readonly nodes: number;
  /** The edge's SIP address (UDP). */
  readonly edge: HostPort;
  /** Each node's address; default 127.0.0.2, 127.0.0.3, … */
  readonly nodeAddresses?: readonly string[];
  /** SIP and HTTP ports of node i (on its own address); default 5060 and 3000 for every node. */
  readonly sipPort?: (i: number) => number | Promise<number>;
  readonly httpPort?: (i: number) => number | Promise<number>;
  /** Node i's RTP range is rtpBase + i × rtpSpan … + rtpSpan − 1. */
  readonly rtpBase: number;
  readonly rtpSpan: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Environment every node gets besides what the launcher sets (keys, REDIS_PREFIX, timers…). */
  readonly env: Record<string, string>;
  /** Kamailio defines (kamailio.cfg): DS_PING_INTERVAL, NODE_TIMEOUT_MS, PIKE_DENSITY, CHILDREN. */
  readonly edgeDefines?: Record<string, string | number>;
  /** NODE_ID of node i is `${nodeIdPrefix}-${i + 1}`; default `node`. */
  readonly nodeIdPrefix?: string;
  /** How long a node may take to answer /health/ready after its start; default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Node output: kept in memory (tests) or written through. */
  readonly onNodeOutput?: (node: number, chunk: string) => void;
}

export interface ClusterNode {
  readonly index: number;
  readonly nodeId: string;
  readonly address: string;
  readonly sipPort: number;
  readonly httpPort: number;
  readonly rtpMin: number;
  readonly rtpMax: number;
  readonly url: string;
  /** The running process (a new one after restart()). */
  proc(): ChildProcess;
  /** Everything this node's processes wrote (pino JSON lines), newest 4 MiB. */
  log(): string;
  /** Sends `signal` and resolves when the process has exited (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Starts the node again (same addresses, NODE_ID and ports) and waits until it is ready. */
  start(): Promise<void>;
}

export interface Cluster {
  readonly edge: HostPort & { proc: ChildProcess; log(): string };
  readonly nodes: readonly ClusterNode[];
  /** SIGTERM to every node (they drain), then the edge; resolves when all have exited. */
  stop(): Promise<void>;
}

const MAX_LOG = 4 * 1024 * 1024;

function keepTail(buf: { text: string }, chunk: string): void {
  buf.text += chunk;
  if (buf.text.length > 2 * MAX_LOG) buf.text = buf.text.slice(-MAX_LOG);
}

function exited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

/** Signals the process, or its whole process group when it was spawned detached (kamailio and its children). */
function signal(proc: ChildProcess, sig: NodeJS.Signals, group: boolean): void {
  try {
    if (group) process.kill(-proc.pid!, sig);
    else proc.kill(sig);
  } catch {
    // already gone
  }
}

function stopProcess(proc: ChildProcess, sig: NodeJS.Signals, graceMs: number, group = false): Promise<void> {
  return new Promise((ok) => {
    if (exited(proc)) {
      if (group) signal(proc, 'SIGKILL', true);
      return ok();
    }
    proc.once('exit', () => {
      // kamailio's children outlive a main process that was killed: the group goes with it.
      if (group) signal(proc, 'SIGKILL', true);
      ok();
    });
    signal(proc, sig, group);
    if (sig !== 'SIGKILL') setTimeout(() => !exited(proc) && signal(proc, 'SIGKILL', group), graceMs).unref();
  });
}

/** Resolves when GET /health/ready answers 200, or rejects when the process exits or `ms` pass. */
async function ready(url: string, proc: ChildProcess, output: () => string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (exited(proc)) throw new ClusterError(`gateway node exited during start-up (code ${proc.exitCode}, signal ${proc.signalCode}):\n${output().slice(-3000)}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new ClusterError(`gateway node at ${url} not ready within ${ms} ms:\n${output().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The dispatcher list of kamailio.cfg: set 1, one line per node. */
export function dispatcherList(nodes: readonly HostPort[]): string {
  return ['# gateway nodes (written by scripts/cluster-launcher.ts)', ...nodes.map((n) => `1 sip:${n.host}:${n.port}`), ''].join('\n');
}

/** Kamailio's command line for kamailio.cfg with these defines. */
export function kamailioArgs(cfg: string, edge: HostPort, dispatcherFile: string, runDir: string, defines: Record<string, string | number> = {}): string[] {
  const args = ['-f', cfg, '-DD', '-E', '-m', '64', '-M', '8', '-Y', runDir, '-P', join(runDir, 'kamailio.pid')];
  args.push('-A', `EDGE_LISTEN=udp:${edge.host}:${edge.port}`, '-A', `DISPATCHER_LIST="${dispatcherFile}"`);
  for (const [k, v] of Object.entries(defines)) args.push('-A', `${k}=${v}`);
  return args;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const kamailio = requireKamailio();
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 250) throw new ClusterError(`--nodes: expected a whole number from 1 to 250 (got ${o.nodes})`);
  const dir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));
  const addresses = o.nodeAddresses ?? Array.from({ length: o.nodes }, (_, i) => `127.0.0.${i + 2}`);
  if (addresses.length < o.nodes) throw new ClusterError(`${o.nodes} nodes need ${o.nodes} addresses`);
  const started: ClusterNode[] = [];
  let edgeProc: ChildProcess | undefined;
  try {
    const specs = [];
    for (let i = 0; i < o.nodes; i++) {
      specs.push({ address: addresses[i], sipPort: o.sipPort ? await o.sipPort(i) : 5060, httpPort: o.httpPort ? await o.httpPort(i) : 3000 });
    }
    const dispatcherFile = join(dir, 'dispatcher.list');
    writeFileSync(dispatcherFile, dispatcherList(specs.map((s) => ({ host: s.address, port: s.sipPort }))));

    const edgeLog = { text: '' };
    // Its own process group, so that stopping it stops every kamailio child too.
    edgeProc = spawn(kamailio, kamailioArgs(KAMAILIO_CFG(), o.edge, dispatcherFile, dir, o.edgeDefines), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    edgeProc.stdout!.on('data', (d: Buffer) => keepTail(edgeLog, d.toString()));
    edgeProc.stderr!.on('data', (d: Buffer) => keepTail(edgeLog, d.toString()));

    for (let i = 0; i < o.nodes; i++) started.push(await startNode(o, i, specs[i]));

    // The edge has had the nodes' start-up time to come up; it must still be running.
    if (exited(edgeProc)) throw new ClusterError(`kamailio exited (code ${edgeProc.exitCode}):\n${edgeLog.text.slice(-3000)}`);
    const edge = Object.assign({ ...o.edge }, { proc: edgeProc, log: () => edgeLog.text });
    return {
      edge,
      nodes: started,
      stop: async () => {
        await Promise.all(started.map((n) => n.stop('SIGTERM', 60_000)));
        await stopProcess(edgeProc!, 'SIGTERM', 5000, true);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(started.map((n) => n.stop('SIGKILL')));
    if (edgeProc) await stopProcess(edgeProc, 'SIGTERM', 2000, true);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startNode(o: ClusterOptions, index: number, spec: { address: string; sipPort: number; httpPort: number }): Promise<ClusterNode> {
  const nodeId = `${o.nodeIdPrefix ?? 'node'}-${index + 1}`;
  const rtpMin = o.rtpBase + index * o.rtpSpan;
  const rtpMax = rtpMin + o.rtpSpan - 1;
  const url = `http://${spec.address}:${spec.httpPort}`;
  const out = { text: '' };
  let proc: ChildProcess | undefined;
  const env = {
    PATH: process.env.PATH ?? '',
    ...o.env,
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: o.redisUrl,
    NODE_ID: nodeId,
    HTTP_HOST: spec.address,
    HTTP_PORT: String(spec.httpPort),
    SIP_LISTEN: `${spec.address}:${spec.sipPort}`,
    SIP_PUBLIC_ADDRESS: spec.address,
    // Not the default 0.0.0.0:5066, which the second node could not bind.
    SIP_WS_LISTEN: o.env.SIP_WS_LISTEN ?? `${spec.address}:5066`,
    SIP_TRUSTED_EDGES: `${o.edge.host}/32`,
    RTP_PORT_MIN: String(rtpMin),
    RTP_PORT_MAX: String(rtpMax),
    DB_MIGRATE_ON_START: 'false',
  };
  const node: ClusterNode = {
    index,
    nodeId,
    address: spec.address,
    sipPort: spec.sipPort,
    httpPort: spec.httpPort,
    rtpMin,
    rtpMax,
    url,
    proc: () => proc!,
    log: () => out.text,
    stop: (signal: NodeJS.Signals = 'SIGTERM', graceMs = 60_000) => (proc ? stopProcess(proc, signal, graceMs) : Promise.resolve()),
    start: async () => {
      if (proc && !exited(proc)) throw new ClusterError(`${nodeId} is running`);
      const p = spawn(process.execPath, [join(repoRoot(), 'dist/src/main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      const take = (d: Buffer) => {
        keepTail(out, d.toString());
        o.onNodeOutput?.(index, d.toString());
      };
      p.stdout!.on('data', take);
      p.stderr!.on('data', take);
      await ready(url, p, () => out.text, o.readyTimeoutMs ?? 60_000);
    },
  };
  await node.start();
  return node;
}

/** Reads a secret file written earlier, or writes `make()` there (mode 0600). */
export function fileSecret(path: string, make: () => string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    writeFileSync(path, make(), { mode: 0o600 });
    return readFileSync(path, 'utf8').trim();
  }
}
