import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_VARIABLES, ConfigError, loadConfig, PRIVATE_NETWORKS } from './config';

/** Every variable set, each away from its default (and the RTP/expiry pairs valid with either half at its default). */
const FULL_ENV: Record<(typeof CONFIG_VARIABLES)[number], string> = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://gw@127.0.0.1:5432/gw',
  DATA_DIR: '/var/lib/gw',
  EMBEDDED_PG_PORT: '54400',
  DB_MIGRATE_ON_START: 'false',
  DB_POOL_SIZE: '7',
  NODE_ID: 'gw-7',
  CALL_HEARTBEAT_SECONDS: '5',
  CALL_SWEEP_SECONDS: '10',
  REDIS_URL: 'rediss://127.0.0.1:6380',
  REDIS_PREFIX: 'gw2',
  HTTP_PORT: '3100',
  HTTP_HOST: '127.0.0.1',
  SIP_LISTEN: '[::1]:5070',
  SIP_PUBLIC_ADDRESS: '127.0.0.2',
  SIP_REALM: 'pstn.example',
  SIP_DIGEST_ALGORITHMS: 'SHA-256, MD5',
  SIP_MIN_EXPIRES: '30',
  SIP_MAX_EXPIRES: '7200',
  SIP_NONCE_TTL_SECONDS: '120',
  SIP_AUTH_FAIL_LIMIT: '5',
  SIP_AUTH_FAIL_WINDOW_SECONDS: '90',
  SIP_AUTH_BLOCK_SECONDS: '600',
  SIP_T1_MS: '250',
  SIP_TRUSTED_EDGES: '10.0.0.5, 10.1.0.0/24',
  SIP_RATE_LIMIT_PER_SECOND: '0',
  SIP_TRUNK_RATE_LIMIT_PER_SECOND: '3000',
  SIP_MAX_TRANSACTIONS_PER_SOURCE: '150',
  SIP_MAX_TRANSACTIONS: '50000',
  SIP_TCP_MAX_CONNECTIONS_PER_IP: '16',
  SIP_TCP_IDLE_SECONDS: '120',
  SIP_AUTH_FAIL_USER_LIMIT: '40',
  SIP_WS_LISTEN: '127.0.0.1:8066',
  SIP_WSS_LISTEN: '0.0.0.0:8443',
  TLS_CERT_FILE: '/etc/gw/cert.pem',
  TLS_KEY_FILE: '/etc/gw/key.pem',
  SIP_WS_ALLOWED_ORIGINS: 'https://phone.example.com, http://127.0.0.1:3000',
  SIP_WS_MAX_CONNECTIONS_PER_IP: '8',
  SIP_WS_PING_SECONDS: '15',
  RTP_PORT_MIN: '20100',
  RTP_PORT_MAX: '29998',
  MEDIA_ALLOW_LOOPBACK: 'yes',
  MEDIA_ENGINE: 'rtpengine',
  RTPENGINE_NG: '127.0.0.1:22222, 10.0.0.2:2223',
  RTPENGINE_TIMEOUT_MS: '800',
  DEFAULT_COUNTRY: 'JP',
  ADMIN_API_KEY: 'k'.repeat(40),
  SECRETS_KEY: 'ab'.repeat(32),
  NUMBER_QUARANTINE_DAYS: '0',
  LOG_LEVEL: 'warn',
  API_KEY_CACHE_SECONDS: '30',
  METRICS_ALLOW: '10.0.0.0/8',
  METRICS_BEARER_TOKEN: 't'.repeat(32),
  DOCS_ENABLED: '0',
  DOCS_ALLOW: 'any',
  ROLES: 'sip,media',
  CALL_RING_TIMEOUT_SECONDS: '30',
  TRUNK_SETUP_TIMEOUT_MS: '2000',
  CALL_DRAIN_SECONDS: '10',
  MEDIA_INACTIVITY_SECONDS: '0',
  BLOCKED_DESTINATIONS: '+1900, 882',
  BLOCK_PREMIUM_RATE: 'no',
  DEFAULT_MAX_CONCURRENT_CALLS: 'none',
  EMERGENCY_NUMBERS: '110, 119',
  TURN_URLS: 'turn:turn.example:3478?transport=udp, turns:turn.example:5349',
  TURN_SECRET: 's'.repeat(24),
  TURN_TTL_SECONDS: '600',
  CONSOLE_SESSION_TTL_SECONDS: '3600',
  CONSOLE_COOKIE_SECURE: 'always',
  CONSOLE_TRUSTED_PROXIES: '10.0.0.5',
  SIP_TRACE: 'true',
  SIP_CAPTURE: 'false',
  SIP_CAPTURE_RETENTION_HOURS: '48',
  SIP_CAPTURE_MAX_CALLS: '1000',
  SIP_CAPTURE_MAX_MESSAGES_PER_CALL: '20',
  SIP_CAPTURE_MAX_MESSAGE_BYTES: '2048',
  HEP_URL: 'udp://[::1]:9060',
  HEP_CAPTURE_ID: '7',
  HEP_AUTH_KEY: 'homer',
};


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

  it('reads TURN settings: none by default, URLs checked, the secret never echoed', () => {
    expect(loadConfig({}).turn).toEqual({ urls: [], secret: undefined, ttlSeconds: 86400 });
    expect(() => loadConfig({ TURN_URLS: 'http://turn.example' })).toThrow(/TURN_URLS: expected comma-separated turn:/);
    expect(() => loadConfig({ TURN_SECRET: 'short secret' })).toThrow(/TURN_SECRET: expected at least 16 characters without spaces \(coturn static-auth-secret\) \(got "<hidden>"\)/);
  });

  it('reads the console session settings: 8 h, Secure decided per request, X-Forwarded-Proto believed from loopback only', () => {
    expect(loadConfig({}).console).toEqual({ sessionTtlSeconds: 28800, cookieSecure: 'auto', trustedProxies: ['127.0.0.1/32', '::1/128'] });
    expect(() => loadConfig({ CONSOLE_COOKIE_SECURE: 'never' })).toThrow(/CONSOLE_COOKIE_SECURE/);
    expect(() => loadConfig({ CONSOLE_TRUSTED_PROXIES: 'proxy.example' })).toThrow(/CONSOLE_TRUSTED_PROXIES: expected any, or comma-separated CIDRs/);
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

  it('refuses sip without a media engine, and media without sip, naming ROLES and MEDIA_ENGINE', () => {
    expect(loadConfig({}).media.engine).toBe('builtin');
    expect(() => loadConfig({ ROLES: 'api,sip' })).toThrow(/ROLES: expected media beside sip: .*add media to ROLES.*MEDIA_ENGINE=rtpengine/);
    expect(loadConfig({ ROLES: 'sip', MEDIA_ENGINE: 'rtpengine' }).roles).toEqual(['sip']);
    expect(loadConfig({ ROLES: 'sip,media' }).roles).toEqual(['sip', 'media']);
    expect(() => loadConfig({ ROLES: 'api,media' })).toThrow(/ROLES: expected sip beside media/);
    expect(() => loadConfig({ MEDIA_ENGINE: 'kernel' })).toThrow(/MEDIA_ENGINE/);
  });

  it('reads the WebSocket listeners: WS on 5066 and no WSS by default, off, same-host origins, and bad values named', () => {
    expect(loadConfig({}).sipWs).toMatchObject({ listen: { host: '0.0.0.0', port: 5066 }, secureListen: undefined, allowedOrigins: 'same-host', maxConnectionsPerIp: 32, pingSeconds: 30 });
    expect(loadConfig({ SIP_WS_LISTEN: 'off', SIP_WS_ALLOWED_ORIGINS: 'any' }).sipWs).toMatchObject({ listen: undefined, allowedOrigins: 'any' });
    expect(() => loadConfig({ SIP_WS_LISTEN: '5066' })).toThrow(/SIP_WS_LISTEN: expected host:port/);
    expect(() => loadConfig({ SIP_WS_ALLOWED_ORIGINS: 'https://a.example/path' })).toThrow(/SIP_WS_ALLOWED_ORIGINS/);
    expect(() => loadConfig({ SIP_WS_ALLOWED_ORIGINS: 'any,https://a.example' })).toThrow(/SIP_WS_ALLOWED_ORIGINS/);
  });

  it('reads the media engine: builtin by default, rtpengine with a list of ng addresses, bad values named', () => {
    expect(loadConfig({}).media).toEqual({ engine: 'builtin', rtpengines: [{ host: '127.0.0.1', port: 22222 }], rtpengineTimeoutMs: 1500 });
    expect(loadConfig({ MEDIA_ENGINE: 'rtpengine', RTPENGINE_NG: '10.0.0.1:2223, media-2.example:2223' }).media.rtpengines).toEqual([
      { host: '10.0.0.1', port: 2223 },
      { host: 'media-2.example', port: 2223 },
    ]);
    expect(() => loadConfig({ MEDIA_ENGINE: 'kernel' })).toThrow(/MEDIA_ENGINE/);
    expect(() => loadConfig({ RTPENGINE_NG: '10.0.0.1' })).toThrow(/RTPENGINE_NG/);
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

  it('carries every variable of a full environment into the nested shape', () => {
    expect(loadConfig(FULL_ENV)).toStrictEqual({
      env: 'production',
      databaseUrl: 'postgresql://gw@127.0.0.1:5432/gw',
      dataDir: '/var/lib/gw',
      embeddedPgPort: 54400,
      migrateOnStart: false,
      dbPoolSize: 7,
      redisUrl: 'rediss://127.0.0.1:6380',
      redisPrefix: 'gw2',
      httpPort: 3100,
      httpHost: '127.0.0.1',
      sipListen: { host: '::1', port: 5070 },
      sipPublicAddress: '127.0.0.2',
      sipRealm: 'pstn.example',
      sip: {
        digestAlgorithms: ['SHA-256', 'MD5'],
        minExpires: 30,
        maxExpires: 7200,
        nonceTtlSeconds: 120,
        authFailLimit: 5,
        authFailWindowSeconds: 90,
        authBlockSeconds: 600,
        t1Ms: 250,
        trustedEdges: ['10.0.0.5', '10.1.0.0/24'],
        limits: { ratePerSecond: 0, trunkRatePerSecond: 3000, maxTransactionsPerSource: 150, maxTransactions: 50000, tcpMaxConnectionsPerIp: 16, tcpIdleSeconds: 120, authFailUserLimit: 40 },
      },
      sipWs: {
        listen: { host: '127.0.0.1', port: 8066 },
        secureListen: { host: '0.0.0.0', port: 8443 },
        tlsCertFile: '/etc/gw/cert.pem',
        tlsKeyFile: '/etc/gw/key.pem',
        allowedOrigins: ['https://phone.example.com', 'http://127.0.0.1:3000'],
        maxConnectionsPerIp: 8,
        pingSeconds: 15,
      },
      rtpPortMin: 20100,
      rtpPortMax: 29998,
      mediaAllowLoopback: true,
      media: { engine: 'rtpengine', rtpengines: [{ host: '127.0.0.1', port: 22222 }, { host: '10.0.0.2', port: 2223 }], rtpengineTimeoutMs: 800 },
      defaultCountry: 'JP',
      adminApiKey: 'k'.repeat(40),
      secretsKey: Buffer.alloc(32, 0xab),
      numberQuarantineDays: 0,
      logLevel: 'warn',
      apiKeyCacheSeconds: 30,
      endpoints: { metricsAllow: ['10.0.0.0/8'], metricsBearerToken: 't'.repeat(32), docsEnabled: false, docsAllow: 'any' },
      roles: ['sip', 'media'],
      node: { id: 'gw-7', fixed: true, heartbeatSeconds: 5, sweepSeconds: 10 },
      calls: {
        ringTimeoutSeconds: 30,
        trunkSetupTimeoutMs: 2000,
        drainSeconds: 10,
        mediaInactivitySeconds: 0,
        blockedDestinations: ['1900', '882'],
        blockPremiumRate: false,
        defaultMaxConcurrentCalls: null,
        emergencyNumbers: ['110', '119'],
      },
      turn: { urls: ['turn:turn.example:3478?transport=udp', 'turns:turn.example:5349'], secret: 's'.repeat(24), ttlSeconds: 600 },
      console: { sessionTtlSeconds: 3600, cookieSecure: 'always', trustedProxies: ['10.0.0.5'] },
      capture: { trace: true, enabled: false, retentionHours: 48, maxCalls: 1000, maxMessagesPerCall: 20, maxMessageBytes: 2048, hep: { host: '::1', port: 9060, captureId: 7, authKey: 'homer' } },
    });
    expect(loadConfig({ SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') }).secretsKey).toStrictEqual(Buffer.alloc(32, 7));
  });

  it('reads no variable in vain: leaving out any one of a full environment changes the result', () => {
    const full = loadConfig(FULL_ENV);
    const unchanged = CONFIG_VARIABLES.filter((name) => {
      const { [name]: _left, ...rest } = FULL_ENV;
      return JSON.stringify(loadConfig(rest)) === JSON.stringify(full);
    });
    expect(unchanged).toEqual([]);
  });

  it('names the node hostname-pid unless NODE_ID is set, and refuses a NODE_ID with a slash or spaces', () => {
    const node = loadConfig({}).node;
    expect(node).toMatchObject({ fixed: false, heartbeatSeconds: 15, sweepSeconds: 15 });
    expect(node.id).toMatch(new RegExp(`-${process.pid}$`));
    expect(() => loadConfig({ NODE_ID: 'gw/1' })).toThrow(/NODE_ID/);
    expect(() => loadConfig({ NODE_ID: 'gw 1' })).toThrow(/NODE_ID/);
    expect(() => loadConfig({ CALL_HEARTBEAT_SECONDS: '0' })).toThrow(/CALL_HEARTBEAT_SECONDS/);
  });

  it('ignores a variable it does not read, so a deployment that still sets SHUTDOWN_GRACE_SECONDS starts', () => {
    expect(CONFIG_VARIABLES).not.toContain('SHUTDOWN_GRACE_SECONDS');
    expect(loadConfig({ SHUTDOWN_GRACE_SECONDS: 'not a number' })).toStrictEqual(loadConfig({}));
  });

  it("README's configuration table lists exactly the variables read", () => {
    const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
    const documented = readme
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) => [...line.split('|')[1].matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });
});
