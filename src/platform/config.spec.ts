import { ConfigError, loadConfig, PRIVATE_NETWORKS } from './config';

describe('loadConfig', () => {
  it('applies the documented defaults for a single machine', () => {
    const c = loadConfig({});
    expect(c.httpPort).toBe(3000);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.sipListen).toEqual({ host: '0.0.0.0', port: 5060 });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.roles).toEqual(['api', 'sip', 'media', 'worker']);
    expect(c.defaultCountry).toBe('US');
  });

  it('names the variable and what is expected for a wrong value', () => {
    try {
      loadConfig({ HTTP_PORT: 'abc', DEFAULT_COUNTRY: 'usa' });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems;
      expect(problems.find((p) => p.startsWith('HTTP_PORT:'))).toContain('"abc"');
      expect(problems.find((p) => p.startsWith('DEFAULT_COUNTRY:'))).toContain('ISO 3166-1');
    }
  });

  it('never echoes a secret it rejects', () => {
    expect(() => loadConfig({ ADMIN_API_KEY: 'short-secret' })).toThrow(/ADMIN_API_KEY: expected at least 32 characters \(got "<hidden>"\)/);
  });

  it('rejects an odd RTP_PORT_MIN and an inverted range', () => {
    expect(() => loadConfig({ RTP_PORT_MIN: '20001' })).toThrow(/RTP_PORT_MIN: expected an even port/);
    expect(() => loadConfig({ RTP_PORT_MIN: '30000', RTP_PORT_MAX: '20000' })).toThrow(/RTP_PORT_MAX/);
  });

  it('parses a bracketed IPv6 SIP listen address and a role subset', () => {
    const c = loadConfig({ SIP_LISTEN: '[::1]:5070', ROLES: 'api,worker' });
    expect(c.sipListen).toEqual({ host: '::1', port: 5070 });
    expect(c.roles).toEqual(['api', 'worker']);
    expect(() => loadConfig({ ROLES: 'api,bogus' })).toThrow(/ROLES/);
  });

  it('accepts a DATABASE_URL only with a postgres scheme', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' }).databaseUrl).toBe('postgres://u@127.0.0.1:5432/db');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u@127.0.0.1/db' })).toThrow(/DATABASE_URL/);
  });

  it('reads the /metrics and /docs access settings, private networks by default, and hides a rejected token', () => {
    expect(loadConfig({}).endpoints).toEqual({ metricsAllow: PRIVATE_NETWORKS.split(','), metricsBearerToken: undefined, docsEnabled: true, docsAllow: PRIVATE_NETWORKS.split(',') });
    expect(loadConfig({ METRICS_ALLOW: 'any', DOCS_ALLOW: ' 10.1.2.3 , 2001:db8::/32', DOCS_ENABLED: 'false' }).endpoints).toMatchObject({ metricsAllow: 'any', docsAllow: ['10.1.2.3', '2001:db8::/32'], docsEnabled: false });
    expect(() => loadConfig({ METRICS_ALLOW: '10.0.0.0/33' })).toThrow(/METRICS_ALLOW: expected any, or comma-separated CIDRs/);
    expect(() => loadConfig({ DOCS_ALLOW: 'localhost' })).toThrow(/DOCS_ALLOW/);
    expect(() => loadConfig({ METRICS_BEARER_TOKEN: 'too-short-token' })).toThrow(/METRICS_BEARER_TOKEN: expected at least 32 characters without spaces \(got "<hidden>"\)/);
  });
});
