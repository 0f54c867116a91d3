/**
 * `npm run bench:sip`: the SIP parser on a realistic corpus (beside a naive split baseline), and
 * authenticated REGISTERs per second driven by SIPp against a real gateway process and, in the
 * same run, against Kamailio (registrar, usrloc in memory) as the baseline. Loopback only; every
 * SIPp run is bounded by a call count and a timeout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { v7 } from 'uuid';
import { digestHa1 } from '../src/users/digest-ha1';
import { run as parserRun } from './sip-parser.bench';
import { freePort, freshDatabase, startGateway, writeResult } from './harness';

const USERS = Number(process.env.BENCH_SIP_USERS ?? 20_000);
const REGISTRATIONS = Number(process.env.BENCH_SIP_REGISTRATIONS ?? 20_000);
const PASSWORD = 'bench-password';
const REALM = 'bench.gateway';
const assets = resolve(__dirname, '../../bench/sip');

interface LoadResult {
  target: string;
  attempted: number;
  successful: number;
  failed: number;
  retransmissions: number;
  seconds: number;
  registrationsPerSecond: number;
}

function sippLoad(target: string, port: number, usersFile: string, rate: number): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-sipp-'));
  const args = [
    `127.0.0.1:${port}`, '-sf', join(assets, 'register-load.xml'), '-inf', usersFile,
    '-i', '127.0.0.1', '-p', '0', '-t', 'un', '-max_socket', '50',
    '-m', String(REGISTRATIONS), '-r', String(rate), '-l', '400',
    '-timeout', '120s', '-nostdin', '-trace_stat', '-stf', 'stats.csv', '-fd', '1',
  ];
  return new Promise((ok, fail) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
    const kill = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', fail);
    child.on('close', () => {
      clearTimeout(kill);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const csv = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.csv'))!), 'utf8').trim().split('\n');
      const header = csv[0].split(';');
      const last = csv[csv.length - 1].split(';');
      const col = (name: string) => Number(last[header.indexOf(name)]);
      const successful = col('SuccessfulCall(C)');
      const elapsed = String(last[header.indexOf('ElapsedTime(C)')]).split(':').map(Number);
      const sippSeconds = elapsed.length === 3 ? elapsed[0] * 3600 + elapsed[1] * 60 + elapsed[2] : seconds;
      ok({
        target,
        attempted: REGISTRATIONS,
        successful,
        failed: col('FailedCall(C)'),
        retransmissions: col('Retransmissions(C)'),
        seconds: +seconds.toFixed(2),
        registrationsPerSecond: Math.round(successful / Math.max(sippSeconds, seconds - 0.5)),
      });
    });
  });
}

async function kamailio(port: number): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-kam-'));
  const cfg = readFileSync(join(assets, 'kamailio.cfg.tpl'), 'utf8').replace('__PORT__', String(port)).replace('__PASSWORD__', PASSWORD).replace('__CHILDREN__', '2');
  writeFileSync(join(dir, 'kamailio.cfg'), cfg);
  const proc = spawn('kamailio', ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-m', '256', '-M', '16', '-P', join(dir, 'kamailio.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => setTimeout(r, 1500));
  if (proc.exitCode !== null) throw new Error(`kamailio exited: ${err.slice(-2000)}`);
  return () => proc.kill('SIGTERM');
}

async function seedUsers(url: string): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const account = v7();
  await c.query(`INSERT INTO accounts (id, name, currency) VALUES ($1, 'bench', 'USD')`, [account]);
  const names = Array.from({ length: USERS }, (_, i) => `bench${i}`);
  for (let i = 0; i < names.length; i += 5000) {
    const chunk = names.slice(i, i + 5000);
    const ha1 = chunk.map((n) => digestHa1(n, REALM, PASSWORD));
    await c.query(
      `INSERT INTO users (id, username, realm, ha1_md5, ha1_sha256, account_id)
       SELECT id, u, $5, m, s, $6 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(id, u, m, s)`,
      [chunk.map(() => v7()), chunk, ha1.map((h) => h.md5), ha1.map((h) => h.sha256), REALM, account],
    );
  }
  await c.end();
  const file = join(mkdtempSync(join(tmpdir(), 'gw-bench-users-')), 'users.csv');
  writeFileSync(file, `SEQUENTIAL\n${names.map((n) => `${n};[authentication username=${n} password=${PASSWORD}]`).join('\n')}\n`);
  return file;
}

function requireTool(name: string, pkg: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
  if (!found) throw new Error(`bench:sip needs ${name}: apt-get install -y ${pkg} (the baseline must run in the same bench)`);
}

export async function run(): Promise<void> {
  requireTool('sipp', 'sip-tester');
  requireTool('kamailio', 'kamailio');
  const parser = parserRun();
  const db = await freshDatabase('sip');
  const usersFile = await seedUsers(db.url);
  const rate = Number(process.env.BENCH_SIP_RATE ?? 3000);
  const gwSipPort = await freePort();
  const gw = await startGateway(db.url, { SIP_LISTEN: `127.0.0.1:${gwSipPort}`, SIP_REALM: REALM, ROLES: 'api,sip', SIP_AUTH_FAIL_LIMIT: '100000' });
  let gateway: LoadResult;
  let peakRss: number;
  try {
    gateway = await sippLoad('gateway', gwSipPort, usersFile, rate);
    peakRss = gw.peakRssMiB();
  } finally {
    await gw.stop();
    await db.drop();
  }
  const kamPort = await freePort();
  const stopKam = await kamailio(kamPort);
  let baseline: LoadResult;
  try {
    baseline = await sippLoad('kamailio', kamPort, usersFile, rate);
  } finally {
    stopKam();
  }
  const result = {
    command: 'npm run bench:sip',
    parser: parser.figures,
    parserCorpus: parser.corpus,
    registrations: {
      scenario: 'bench/sip/register-load.xml: REGISTER, 401, REGISTER with MD5 digest, 200; one user per call',
      users: USERS,
      targetRate: rate,
      sippConcurrencyLimit: 400,
      gateway: { ...gateway, peakRssMiB: peakRss, note: 'one Node process; user HA1 from PostgreSQL, bindings and nonce counts in Redis' },
      baseline: { ...baseline, what: 'Kamailio 5.6 (Debian), 2 UDP children, pv_auth_check with one shared password, usrloc db_mode 0 (memory)' },
      ratio: { gatewayOverKamailio: +(gateway.registrationsPerSecond / Math.max(1, baseline.registrationsPerSecond)).toFixed(3) },
    },
    note: '2-core machine: SIPp, the registrar under test, PostgreSQL and Redis share the cores.',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${writeResult('sip', result)}`);
}

if (require.main === module) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
