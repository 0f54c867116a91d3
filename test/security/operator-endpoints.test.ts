/**
 * /metrics and /docs carry no API key; who may read them is configurable: METRICS_ALLOW and
 * DOCS_ALLOW (source CIDRs, default loopback and private networks), METRICS_BEARER_TOKEN, and
 * DOCS_ENABLED. A real gateway process listens on 127.0.0.1; requests come from 127.0.0.1 or from
 * 127.0.0.2 (a second loopback address standing in for "another host").
 */
import { request as httpRequest } from 'node:http';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, o: { from?: string; token?: string } = {}): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, localAddress: o.from ?? '127.0.0.1', headers: o.token ? { Authorization: `Bearer ${o.token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

async function listening(env: Record<string, string>): Promise<{ gw: GatewayProcess; port: number }> {
  const gw = await startGatewayProcess({ rtpMin: 48100, rtpMax: 48119, env });
  return { gw, port: gw.httpPort };
}

describe('who may read /metrics and /docs', () => {
  it('by default: served to loopback (and private networks)', async () => {
    const { gw, port } = await listening({});
    try {
      expect((await get(port, '/metrics')).status).toBe(200);
      expect((await get(port, '/docs-json', { from: '127.0.0.2' })).status).toBe(200);
      await gw.expectAlive();
    } finally {
      await gw.stop();
    }
  });

  it('METRICS_ALLOW and DOCS_ALLOW: a source outside the list gets 403, one inside gets the page', async () => {
    const { gw, port } = await listening({ METRICS_ALLOW: '127.0.0.2/32', DOCS_ALLOW: '127.0.0.2' });
    try {
      for (const path of ['/metrics', '/docs-json', '/docs', '/docs/swagger-ui-init.js']) {
        const refused = await get(port, path);
        expect({ path, status: refused.status }).toEqual({ path, status: 403 });
        expect(JSON.parse(refused.body)).toMatchObject({ status: 403, detail: expect.stringMatching(/ALLOW/) });
      }
      expect(gw.logLines().filter((l) => l.msg === '/metrics refused')).toEqual([expect.objectContaining({ level: 40, source: '127.0.0.1', status: 403 })]);
      const metrics = await get(port, '/metrics', { from: '127.0.0.2' });
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^# HELP gateway_/m);
      expect((await get(port, '/docs-json', { from: '127.0.0.2' })).status).toBe(200);
      // The API itself is not affected by the lists.
      expect((await get(port, '/health/live')).status).toBe(200);
      await gw.expectAlive();
    } finally {
      await gw.stop();
    }
  });

  it('METRICS_BEARER_TOKEN: no token or a wrong one gets 401 with WWW-Authenticate; the token gets the metrics', async () => {
    const token = 'metrics-token-0123456789abcdef0123456789';
    const { gw, port } = await listening({ METRICS_BEARER_TOKEN: token });
    try {
      const none = await get(port, '/metrics');
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await get(port, '/metrics', { token: `${token}x` })).status).toBe(401);
      expect((await get(port, '/metrics', { token: 'short' })).status).toBe(401);
      const ok = await get(port, '/metrics', { token });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatch(/^# HELP gateway_/m);
      await gw.expectAlive();
    } finally {
      await gw.stop();
    }
  });

  it('DOCS_ENABLED=false: no OpenAPI pages at all; /metrics unaffected', async () => {
    const { gw, port } = await listening({ DOCS_ENABLED: 'false' });
    try {
      for (const path of ['/docs', '/docs-json', '/docs-yaml']) expect({ path, status: (await get(port, path)).status }).toEqual({ path, status: 404 });
      expect((await get(port, '/metrics')).status).toBe(200);
      await gw.expectAlive();
    } finally {
      await gw.stop();
    }
  });
});
