/**
 * Structured JSON logs (pino) with a request id on every HTTP line.
 * Secrets never reach a log line: authorization headers, passwords, HA1s and API key secrets are redacted.
 */
import { randomUUID } from 'node:crypto';
import { RequestMethod } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import pino, { LoggerOptions } from 'pino';

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  '*.password',
  '*.secret',
  '*.ha1',
  '*.ha1Md5',
  '*.ha1Sha256',
  '*.passwordSealed',
  'password',
  'secret',
];

export function pinoOptions(level: string): LoggerOptions {
  return { level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { service: 'pstn-gateway' } };
}

/** A logger for code outside Nest (bootstrap, SIP and media libraries get child loggers of it). */
export function rootLogger(level: string): pino.Logger {
  return pino(pinoOptions(level));
}

/** The request's X-Request-Id if it is a sane one, else a new UUID (the answer carries it back in X-Request-Id). */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(given) ? given : randomUUID();
}

export function httpLoggingParams(level: string): Params {
  return {
    pinoHttp: {
      ...pinoOptions(level),
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const id = requestIdOf(req);
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health/live' || req.url === '/health/ready' },
    },
    // Every path, '/' included, under Fastify's middie (nestjs-pino's default matches none under middie).
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
  };
}
