/**
 * Configuration: every environment variable the gateway reads, validated once at start-up.
 *
 * Owns the schema, defaults and the one-line error an operator sees for a bad value. The schema
 * is the one definition: its transform builds the nested AppConfig, whose type is derived from it.
 * Imports nothing from the rest of src/, so the SIP, media and bench entry points can use it too.
 */
import { hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const roleNames = ['api', 'sip', 'media', 'worker'] as const;
export type Role = (typeof roleNames)[number];

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

/** 32 bytes from 64 hex digits or base64 (SECRETS_KEY, and the key file main.ts writes). */
export function decodeKey(value: string): Buffer {
  return /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
}

/** `a, b,,c` -> ['a', 'b', 'c']. */
const splitList = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
/** 'none' -> []; otherwise the comma-separated items, trimmed. */
const noneOrList = (s: string) => (s === 'none' ? [] : s.split(',').map((x) => x.trim()));

/** Loopback and the private ranges: the default audience of /metrics and /docs. */
export const PRIVATE_NETWORKS = '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7';
/** `any`, or comma-separated CIDRs or addresses. */
const allowList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitList)
    .refine((l) => (l.length === 1 && l[0] === 'any') || (l.length > 0 && l.every((x) => ipaddr.isValidCIDR(x) || ipaddr.isValid(x))), 'expected any, or comma-separated CIDRs such as 127.0.0.1/32,10.0.0.0/8')
    .transform((l): string[] | 'any' => (l[0] === 'any' ? 'any' : l));

/** host:port where host may be an IPv4 address, a [bracketed] IPv6 address or a name. */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:5060');
/** host:port, or `off`: a listener that may be disabled (read with offOrListen). */
const offOrHostPort = z.string().regex(/^(off|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/, 'expected host:port, e.g. 0.0.0.0:5066, or off');
const offOrListen = (s: string) => (s === 'off' ? undefined : splitHostPort(s));
/** An http(s) origin: scheme://host[:port], nothing after. */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin.toLowerCase() === s.replace(/\/$/, '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * The environment variables as the operator writes them, one entry each with its default and the
 * message an operator sees for a bad value. A variable not listed here is ignored, so a deployment
 * that still sets a retired one (SHUTDOWN_GRACE_SECONDS: calls drain for CALL_DRAIN_SECONDS) starts.
 */
const variables = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  EMBEDDED_PG_PORT: port.default(54329),
  DB_MIGRATE_ON_START: bool.default(true),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('gw'),
  HTTP_PORT: port.default(3000),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  SIP_LISTEN: hostPort.default('0.0.0.0:5060').transform(splitHostPort),
  SIP_PUBLIC_ADDRESS: z.string().min(1).optional(),
  SIP_REALM: z.string().min(1).default('gateway'),
  SIP_DIGEST_ALGORITHMS: z
    .string()
    .default('MD5')
    .transform(splitList)
    .pipe(z.array(z.enum(['MD5', 'SHA-256'])).min(1, 'expected a comma-separated list of MD5 and SHA-256, first preferred')),
  SIP_MIN_EXPIRES: z.coerce.number().int().min(1).max(86400).default(60),
  SIP_MAX_EXPIRES: z.coerce.number().int().min(1).max(604800).default(3600),
  SIP_NONCE_TTL_SECONDS: z.coerce.number().int().min(5).max(86400).default(300),
  SIP_AUTH_FAIL_LIMIT: z.coerce.number().int().min(1).max(100000).default(10),
  SIP_AUTH_FAIL_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  SIP_AUTH_BLOCK_SECONDS: z.coerce.number().int().min(1).max(604800).default(300),
  SIP_T1_MS: z.coerce.number().int().min(10).max(10000).default(500),
  // Per-source protection at the SIP edge (src/sip/transport/source-guard.ts); 0 disables a limit.
  /** SIP edges (Kamailio, deploy/kamailio/) in front of this node: their Path and Via received/rport are honoured. */
  SIP_TRUSTED_EDGES: z
    .string()
    .default('none')
    .refine((s) => s === 'none' || splitList(s).every((x) => ipaddr.isValidCIDR(x) || ipaddr.isValid(x)), 'expected none, or comma-separated addresses or CIDRs such as 10.0.0.5/32')
    .transform((s) => (s === 'none' ? [] : splitList(s))),
  SIP_RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(0).max(1_000_000).default(50),
  SIP_TRUNK_RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(0).max(1_000_000).default(2000),
  SIP_MAX_TRANSACTIONS_PER_SOURCE: z.coerce.number().int().min(0).max(1_000_000).default(200),
  SIP_MAX_TRANSACTIONS: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  SIP_TCP_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).max(100_000).default(32),
  SIP_TCP_IDLE_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
  SIP_AUTH_FAIL_USER_LIMIT: z.coerce.number().int().min(1).max(100000).default(20),
  // -- SIP over WebSocket (issue 14, RFC 7118; src/sip/transport/ws.ts)
  SIP_WS_LISTEN: offOrHostPort.default('0.0.0.0:5066').transform(offOrListen),
  SIP_WSS_LISTEN: offOrHostPort.default('off').transform(offOrListen),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  SIP_WS_ALLOWED_ORIGINS: z
    .string()
    .default('same-host')
    .transform(splitList)
    .refine((l) => l.length === 1 || l.every((o) => o !== 'any' && o !== 'same-host'), 'expected any, same-host, or comma-separated origins')
    .refine((l) => l.every((o) => o === 'any' || o === 'same-host' || isOrigin(o)), 'expected any, same-host, or comma-separated origins such as https://phone.example.com')
    .transform((l): 'any' | 'same-host' | string[] => (l[0] === 'any' || l[0] === 'same-host' ? l[0] : l.map((o) => new URL(o).origin.toLowerCase()))),
  SIP_WS_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).max(100_000).default(32),
  SIP_WS_PING_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  // -- end SIP over WebSocket
  RTP_PORT_MIN: port.default(20000),
  RTP_PORT_MAX: port.default(30000),
  MEDIA_ALLOW_LOOPBACK: bool.default(false),
  // -- media engine (src/media/media-engine.ts)
  MEDIA_ENGINE: z.enum(['builtin', 'rtpengine']).default('builtin'),
  RTPENGINE_NG: z
    .string()
    .default('127.0.0.1:22222')
    .transform(splitList)
    .pipe(z.array(hostPort.transform(splitHostPort)).min(1, 'expected host:port[,host:port] of rtpengine --listen-ng')),
  RTPENGINE_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(1500),
  // -- end media engine
  DEFAULT_COUNTRY: z
    .string()
    .regex(/^[A-Z]{2}$/, 'expected an ISO 3166-1 alpha-2 country code such as US or JP')
    .default('US'),
  ADMIN_API_KEY: z.string().min(32, 'expected at least 32 characters').optional(),
  SECRETS_KEY: z
    .string()
    .regex(/^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, 'expected 32 bytes as 64 hex digits or base64')
    .transform(decodeKey)
    .optional(),
  NUMBER_QUARANTINE_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  // -- operator endpoints (issue 11: /metrics and /docs behind an allow list and a token)
  METRICS_ALLOW: allowList(PRIVATE_NETWORKS),
  METRICS_BEARER_TOKEN: z.string().regex(/^\S{32,}$/, 'expected at least 32 characters without spaces').optional(),
  DOCS_ENABLED: bool.default(true),
  DOCS_ALLOW: allowList(PRIVATE_NETWORKS),
  // -- end operator endpoints
  ROLES: z
    .string()
    .default('api,sip,media,worker')
    .transform(splitList)
    .pipe(z.array(z.enum(roleNames)).min(1, 'expected a comma-separated subset of api,sip,media,worker')),
  /** Who relays a call's media: the built-in Node relay (needs the media role beside sip) or rtpengine (issue 15). */
  CALL_RING_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  TRUNK_SETUP_TIMEOUT_MS: z.coerce.number().int().min(100).max(64000).default(4000),
  CALL_DRAIN_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
  MEDIA_INACTIVITY_SECONDS: z.coerce.number().int().min(0).max(86400).default(60),
  /** Comma-separated E.164 prefixes ('+' optional); 'none' for an empty list. Read as digits without '+'. */
  BLOCKED_DESTINATIONS: z
    .string()
    .regex(/^(none|\+?\d{1,15}(\s*,\s*\+?\d{1,15})*)$/, 'expected comma-separated E.164 prefixes such as +1900,+882, or none')
    .transform((s) => noneOrList(s).map((p) => p.replace(/^\+/, '')))
    .optional(),
  BLOCK_PREMIUM_RATE: bool.default(true),
  // -- failure recovery (docs/scaling.md "When a node dies")
  /** This node's name in its open CDRs and heartbeats; unset: hostname-pid. Unique among live nodes. */
  NODE_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'expected 1-64 letters, digits, dots, dashes, underscores or colons').optional(),
  CALL_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(15),
  CALL_SWEEP_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
  // -- end failure recovery
  /** Concurrent calls of an account whose maxConcurrentCalls is null; 'none' (read as null) for no limit. */
  DEFAULT_MAX_CONCURRENT_CALLS: z
    .string()
    .regex(/^(none|[1-9]\d{0,6})$/, 'expected a whole number of calls from 1 to 9999999, or none')
    .default('10')
    .transform((s) => (s === 'none' ? null : Number(s))),
  /** Comma-separated dialled digits that are emergency calls; 'none' for none. Default: those of DEFAULT_COUNTRY. */
  EMERGENCY_NUMBERS: z
    .string()
    .regex(/^(none|\d{2,6}(\s*,\s*\d{2,6})*)$/, 'expected comma-separated short numbers such as 911,933, or none')
    .transform(noneOrList)
    .optional(),
  // -- TURN for browsers (issue 14: src/phone/turn-credentials.ts, the TURN REST API shared-secret scheme)
  TURN_URLS: z
    .string()
    .regex(/^(none|(turns?|stun):[^\s,]+(\s*,\s*(turns?|stun):[^\s,]+)*)$/, 'expected comma-separated turn:, turns: or stun: URLs such as turn:turn.example.org:3478?transport=udp, or none')
    .default('none')
    .transform(noneOrList),
  TURN_SECRET: z.string().regex(/^\S{16,}$/, 'expected at least 16 characters without spaces (coturn static-auth-secret)').optional(),
  TURN_TTL_SECONDS: z.coerce.number().int().min(60).max(604800).default(86400),
  // -- end TURN
  // -- observability (issue 16: call logs, SIP capture and HEP; docs/observability.md)
  SIP_TRACE: bool.default(false),
  SIP_CAPTURE: bool.default(true),
  SIP_CAPTURE_RETENTION_HOURS: z.coerce.number().int().min(1).max(720).default(24),
  SIP_CAPTURE_MAX_CALLS: z.coerce.number().int().min(1).max(10_000_000).default(10_000),
  SIP_CAPTURE_MAX_MESSAGES_PER_CALL: z.coerce.number().int().min(1).max(1000).default(32),
  SIP_CAPTURE_MAX_MESSAGE_BYTES: z.coerce.number().int().min(256).max(65535).default(4096),
  HEP_URL: z
    .string()
    .regex(/^udp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected udp://host:port, e.g. udp://127.0.0.1:9060')
    .transform((s) => splitHostPort(s.slice('udp://'.length)))
    .optional(),
  HEP_CAPTURE_ID: z.coerce.number().int().min(0).max(4294967295).default(2001),
  HEP_AUTH_KEY: z.string().min(1).max(128).optional(),
  // -- end observability
  // -- operator console (issue 16)
  CONSOLE_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(604800).default(28800),
  CONSOLE_COOKIE_SECURE: z.enum(['auto', 'always']).default('auto'),
  CONSOLE_TRUSTED_PROXIES: allowList('127.0.0.1/32,::1/128'),
  // -- end operator console
});

/** Every variable the gateway reads (config.spec.ts checks each reaches AppConfig and the README). */
export const CONFIG_VARIABLES = Object.keys(variables.shape) as readonly (keyof typeof variables.shape)[];

/** The variables checked together, then arranged in the nested shape the code reads (`config.sip.limits.ratePerSecond`). */
const schema = variables
  .refine((c) => c.RTP_PORT_MIN < c.RTP_PORT_MAX, { path: ['RTP_PORT_MAX'], message: 'expected RTP_PORT_MAX above RTP_PORT_MIN' })
  .refine((c) => c.SIP_MIN_EXPIRES <= c.SIP_MAX_EXPIRES, { path: ['SIP_MAX_EXPIRES'], message: 'expected SIP_MAX_EXPIRES at least SIP_MIN_EXPIRES' })
  .refine((c) => !c.ROLES.includes('sip') || c.ROLES.includes('media') || c.MEDIA_ENGINE === 'rtpengine', {
    path: ['ROLES'],
    message: 'expected media beside sip: a node that takes calls needs a media engine, the built-in relay (add media to ROLES) or rtpengine (MEDIA_ENGINE=rtpengine)',
  })
  .refine((c) => !c.ROLES.includes('media') || c.ROLES.includes('sip'), {
    path: ['ROLES'],
    message: "expected sip beside media: the built-in relay carries this node's own SIP calls only (media apart from signalling is rtpengine: MEDIA_ENGINE=rtpengine on the sip nodes)",
  })
  .refine((c) => c.RTP_PORT_MIN % 2 === 0, { path: ['RTP_PORT_MIN'], message: 'expected an even port (RTP uses even ports)' })
  .transform((c) => ({
    env: c.NODE_ENV,
    /** Absent until the embedded PostgreSQL has started (main.ts assigns it). */
    databaseUrl: c.DATABASE_URL,
    dataDir: c.DATA_DIR,
    embeddedPgPort: c.EMBEDDED_PG_PORT,
    migrateOnStart: c.DB_MIGRATE_ON_START,
    dbPoolSize: c.DB_POOL_SIZE,
    redisUrl: c.REDIS_URL,
    redisPrefix: c.REDIS_PREFIX,
    httpPort: c.HTTP_PORT,
    httpHost: c.HTTP_HOST,
    sipListen: c.SIP_LISTEN,
    sipPublicAddress: c.SIP_PUBLIC_ADDRESS,
    sipRealm: c.SIP_REALM,
    sip: {
      /** Offered in this order in 401/407 challenges. MD5 alone by default: some user agents (libre/baresip 1.0) fail on a challenge whose algorithm they lack. */
      digestAlgorithms: c.SIP_DIGEST_ALGORITHMS,
      minExpires: c.SIP_MIN_EXPIRES,
      maxExpires: c.SIP_MAX_EXPIRES,
      nonceTtlSeconds: c.SIP_NONCE_TTL_SECONDS,
      authFailLimit: c.SIP_AUTH_FAIL_LIMIT,
      authFailWindowSeconds: c.SIP_AUTH_FAIL_WINDOW_SECONDS,
      authBlockSeconds: c.SIP_AUTH_BLOCK_SECONDS,
      t1Ms: c.SIP_T1_MS,
      /** Sources (addresses or CIDRs) that are SIP edges: Path on REGISTER and their Via received/rport are trusted, trunk limits apply. */
      trustedEdges: c.SIP_TRUSTED_EDGES,
      /** Per-source limits; 0 disables the one it names. */
      limits: {
        ratePerSecond: c.SIP_RATE_LIMIT_PER_SECOND,
        trunkRatePerSecond: c.SIP_TRUNK_RATE_LIMIT_PER_SECOND,
        maxTransactionsPerSource: c.SIP_MAX_TRANSACTIONS_PER_SOURCE,
        maxTransactions: c.SIP_MAX_TRANSACTIONS,
        tcpMaxConnectionsPerIp: c.SIP_TCP_MAX_CONNECTIONS_PER_IP,
        tcpIdleSeconds: c.SIP_TCP_IDLE_SECONDS,
        /** Failed digest checks for one username (from any address) within SIP_AUTH_FAIL_WINDOW_SECONDS. */
        authFailUserLimit: c.SIP_AUTH_FAIL_USER_LIMIT,
      },
    },
    /** SIP over WebSocket (RFC 7118): undefined listen addresses are off. */
    sipWs: {
      listen: c.SIP_WS_LISTEN,
      secureListen: c.SIP_WSS_LISTEN,
      /** PEM files read at start-up by the SIP server (WSS; it refuses to start without them). */
      tlsCertFile: c.TLS_CERT_FILE,
      tlsKeyFile: c.TLS_KEY_FILE,
      /** 'same-host': no Origin, or one whose host is the host the browser connected to; 'any'; or these origins. */
      allowedOrigins: c.SIP_WS_ALLOWED_ORIGINS,
      maxConnectionsPerIp: c.SIP_WS_MAX_CONNECTIONS_PER_IP,
      pingSeconds: c.SIP_WS_PING_SECONDS,
    },
    rtpPortMin: c.RTP_PORT_MIN,
    rtpPortMax: c.RTP_PORT_MAX,
    /** MEDIA_ALLOW_LOOPBACK: the relay may send to and latch from loopback addresses (src/media/media-address.ts); only for tests and benchmarks on one host. */
    mediaAllowLoopback: c.MEDIA_ALLOW_LOOPBACK,
    /** MEDIA_ENGINE: the built-in Node relay, or rtpengine over its ng protocol (RTPENGINE_NG, one or more, failover per call). */
    media: { engine: c.MEDIA_ENGINE, rtpengines: c.RTPENGINE_NG, rtpengineTimeoutMs: c.RTPENGINE_TIMEOUT_MS },
    defaultCountry: c.DEFAULT_COUNTRY,
    /** Absent: main.ts creates one under DATA_DIR on first start. */
    adminApiKey: c.ADMIN_API_KEY,
    /** 32 bytes; absent: main.ts creates one under DATA_DIR on first start. */
    secretsKey: c.SECRETS_KEY,
    numberQuarantineDays: c.NUMBER_QUARANTINE_DAYS,
    logLevel: c.LOG_LEVEL,
    /** How long a verified API key is trusted without asking PostgreSQL (src/auth/api-keys.service.ts); 0: every request asks. */
    apiKeyCacheSeconds: c.API_KEY_CACHE_SECONDS,
    /** Who may read /metrics and /docs (src/platform/endpoint-access.ts). */
    endpoints: {
      /** Source CIDRs allowed to read /metrics, or 'any'. Default: loopback and private networks. */
      metricsAllow: c.METRICS_ALLOW,
      /** When set, /metrics also needs `Authorization: Bearer <token>`. */
      metricsBearerToken: c.METRICS_BEARER_TOKEN,
      /** false: no /docs, /docs-json or /docs-yaml at all (404). */
      docsEnabled: c.DOCS_ENABLED,
      docsAllow: c.DOCS_ALLOW,
    },
    /** api: REST and web pages; sip: SIP listeners and calls; media: the built-in relay for this node's calls; worker: rating, rentals, sweeps. */
    roles: c.ROLES,
    node: {
      /** Names this node in the CDRs of its calls in progress (with a per-start instance id: src/calls/call-heartbeat.ts). */
      id: c.NODE_ID ?? `${hostname()}-${process.pid}`,
      /** NODE_ID was set: a restart of this node closes its previous start's calls at once, without waiting for the lapse. */
      fixed: c.NODE_ID !== undefined,
      /** How often the node refreshes its heartbeat (Redis and PostgreSQL); two missed ones make it lost. */
      heartbeatSeconds: c.CALL_HEARTBEAT_SECONDS,
      /** How often a sip or worker node looks for lost nodes' calls to close (one node at a time, under a Redis lock). */
      sweepSeconds: c.CALL_SWEEP_SECONDS,
    },
    calls: {
      /** Ringing without an answer for this long ends the attempt (408, noAnswer). */
      ringTimeoutSeconds: c.CALL_RING_TIMEOUT_SECONDS,
      /** A trunk that sends no response at all within this time is skipped for the next one. */
      trunkSetupTimeoutMs: c.TRUNK_SETUP_TIMEOUT_MS,
      /** On SIGTERM, calls in progress may run this long before the gateway hangs them up. */
      drainSeconds: c.CALL_DRAIN_SECONDS,
      /** No RTP either way for this long ends the call; 0 disables. */
      mediaInactivitySeconds: c.MEDIA_INACTIVITY_SECONDS,
      /** Digits without '+'; undefined: the built-in list (DEFAULT_BLOCKED_PREFIXES in src/calls/call-policy.ts). */
      blockedDestinations: c.BLOCKED_DESTINATIONS,
      blockPremiumRate: c.BLOCK_PREMIUM_RATE,
      /** Concurrent calls of an account whose own limit is null; null: unlimited. */
      defaultMaxConcurrentCalls: c.DEFAULT_MAX_CONCURRENT_CALLS,
      /** Dialled digits routed as emergency calls; undefined: the defaults of DEFAULT_COUNTRY (src/calls/emergency.ts). */
      emergencyNumbers: c.EMERGENCY_NUMBERS,
    },
    /** TURN servers handed to logged-in browser users (src/phone/turn-credentials.ts). */
    turn: {
      /** Empty: the softphone page uses no ICE servers at all. */
      urls: c.TURN_URLS,
      /** coturn's static-auth-secret; unset: turn:/turns: URLs are not handed out (they need credentials), stun: ones are. */
      secret: c.TURN_SECRET,
      /** Lifetime of an issued credential. */
      ttlSeconds: c.TURN_TTL_SECONDS,
    },
    /** The operator console at /console and its login sessions (src/auth/console-sessions.ts). */
    console: {
      /** A session ends this long after login (and at logout). */
      sessionTtlSeconds: c.CONSOLE_SESSION_TTL_SECONDS,
      /** 'auto': the cookie is Secure when the login came over TLS, or with X-Forwarded-Proto: https from a trusted proxy; 'always': Secure whatever the request. */
      cookieSecure: c.CONSOLE_COOKIE_SECURE,
      /** Source addresses whose X-Forwarded-Proto is believed (a TLS-terminating proxy in front of the gateway), or 'any'. */
      trustedProxies: c.CONSOLE_TRUSTED_PROXIES,
    },
    /** SIP capture for the ladders of GET /v1/calls/{callId}/sip, HEP export and per-message logs (src/signaling/sip-capture.ts). */
    capture: {
      /** SIP_TRACE: the full text of every SIP message in its debug log line. */
      trace: c.SIP_TRACE,
      enabled: c.SIP_CAPTURE,
      retentionHours: c.SIP_CAPTURE_RETENTION_HOURS,
      maxCalls: c.SIP_CAPTURE_MAX_CALLS,
      maxMessagesPerCall: c.SIP_CAPTURE_MAX_MESSAGES_PER_CALL,
      maxMessageBytes: c.SIP_CAPTURE_MAX_MESSAGE_BYTES,
      /** HEP_URL's collector; undefined: no HEP. */
      hep: c.HEP_URL ? { host: c.HEP_URL.host, port: c.HEP_URL.port, captureId: c.HEP_CAPTURE_ID, authKey: c.HEP_AUTH_KEY } : undefined,
    },
  }));

/**
 * The validated configuration, derived from the schema above (its one definition). main.ts fills
 * databaseUrl, adminApiKey and secretsKey when the environment leaves them unset.
 */
export type AppConfig = z.output<typeof schema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Validates `env`; throws ConfigError whose problems each name one variable and what is expected. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? 'config');
        const got = name in cleaned ? ` (got ${JSON.stringify(/KEY|TOKEN|SECRET/.test(name) ? '<hidden>' : cleaned[name])})` : '';
        return `${name}: ${i.message}${got}`;
      }),
    );
  }
  return parsed.data;
}

/** Nest injection token for the validated AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
