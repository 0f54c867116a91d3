/**
 * `npm run bench:import`: 100,000 numbers through POST /v1/numbers/import of a real gateway
 * process, against a baseline in the same run: the same rows inserted straight into PostgreSQL
 * with one unnest INSERT per 5,000 rows (no HTTP, no parsing, no validation).
 */
import { request } from 'node:http';
import { Client } from 'pg';
import { v7 } from 'uuid';
import { ADMIN_KEY, freshDatabase, startGateway, writeResult } from './harness';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);

function numbers(): string[] {
  // Valid NANP numbers: area codes 201/212/646, exchanges 200-999, 4-digit lines.
  const areas = ['201', '212', '646'];
  const out: string[] = [];
  for (let i = 0; out.length < ROWS; i++) out.push(`+1${areas[i % 3]}${200 + Math.floor(i / 30000)}${String(Math.floor(i / 3) % 10000).padStart(4, '0')}`);
  return out;
}

function post(port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/numbers/import', method: 'POST', headers: { 'Content-Type': 'text/csv', Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

async function baseline(list: string[]): Promise<number> {
  const db = await freshDatabase('importbase');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    const t0 = process.hrtime.bigint();
    await c.query('BEGIN');
    for (let i = 0; i < list.length; i += 5000) {
      const chunk = list.slice(i, i + 5000);
      await c.query(`INSERT INTO numbers (id, e164, country, type) SELECT * FROM unnest($1::uuid[], $2::text[], $3::char(2)[], $4::text[])`, [
        chunk.map(() => v7()),
        chunk,
        chunk.map(() => 'US'),
        chunk.map(() => 'geographic'),
      ]);
    }
    await c.query('COMMIT');
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await c.end();
    await db.drop();
  }
}

export async function run(): Promise<void> {
  const list = numbers();
  const csv = `e164,monthlyFee\n${list.map((n) => `${n},1.25`).join('\n')}\n`;
  const db = await freshDatabase('import');
  const gw = await startGateway(db.url);
  try {
    const rssBefore = gw.peakRssMiB();
    const t0 = process.hrtime.bigint();
    const r = await post(gw.httpPort, csv);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 201) throw new Error(`import answered ${r.status}: ${r.text.slice(0, 500)}`);
    const imported = (JSON.parse(r.text) as { imported: number }).imported;
    if (imported !== ROWS) throw new Error(`imported ${imported} of ${ROWS}`);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const [{ n }] = (await c.query('SELECT count(*)::int AS n FROM numbers')).rows as { n: number }[];
    await c.end();
    if (n !== ROWS) throw new Error(`database holds ${n} rows, expected ${ROWS}`);
    const peak = gw.peakRssMiB();
    await gw.stop();
    const baseSeconds = await baseline(list);
    const result = {
      command: 'npm run bench:import',
      rows: ROWS,
      csvBytes: Buffer.byteLength(csv),
      gateway: { seconds: +seconds.toFixed(3), rowsPerSecond: Math.round(ROWS / seconds), peakRssMiB: peak, rssBeforeImportMiB: rssBefore },
      baseline: { what: 'raw unnest INSERT of the same rows, 5,000 per statement, one transaction', seconds: +baseSeconds.toFixed(3), rowsPerSecond: Math.round(ROWS / baseSeconds) },
      ratio: { gatewayOverBaselineTime: +(seconds / baseSeconds).toFixed(2) },
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${writeResult('import', result)}`);
  } finally {
    await gw.stop();
    await db.drop();
  }
}

if (require.main === module) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
