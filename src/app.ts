/**
 * Builds the Nest application from a validated config: used by main.ts and by the tests, so both
 * run exactly the same HTTP stack (body limits, OpenAPI, logging, shutdown hooks, and who may
 * read /metrics and /docs: METRICS_ALLOW, METRICS_BEARER_TOKEN, DOCS_ENABLED, DOCS_ALLOW).
 *
 * The gateway serves on Express. `{ adapter: 'fastify' }` builds the same modules on
 * @nestjs/platform-fastify for bench/http.bench.ts only (docs/performance.md, "HTTP": the gain it
 * measured, and why the gateway does not switch): CSV uploads, the CDR export and the queue
 * dashboard (src/billing, src/numbers) use Express's request and response and do not work there.
 */
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from './platform/config';
import { endpointGuard, tokenDigest, toRanges } from './platform/endpoint-access';
import { requestIdOf } from './platform/logging';
import { problemOf } from './platform/problem';

export interface AppOptions {
  /** Measurement only (see above); the default, and what main.ts serves, is Express. */
  adapter?: 'express' | 'fastify';
}

export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<INestApplication> {
  if (options.adapter === 'fastify') return createFastifyApp(config);
  const app = await NestFactory.create(AppModule.register(config), { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  // JSON bodies only through express.json; text/csv bodies stay as streams for the importers.
  const express = await import('express');
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  // body-parser errors happen before Nest's filters see the request: answer them as problems here.
  app.use((err: { type?: string; message?: string }, req: Request, res: Response, next: NextFunction) => {
    if (!err?.type) return next(err);
    const p =
      err.type === 'entity.too.large'
        ? problemOf('payload_too_large', 'request body over 1 MB')
        : problemOf('invalid_input', `malformed JSON body: ${err.message ?? err.type}`, [{ field: 'body', message: 'malformed JSON' }]);
    res.status(p.status).type('application/problem+json').send(JSON.stringify({ ...p, instance: req.originalUrl.split('?')[0] }));
  });
  const express_ = app.getHttpAdapter().getInstance();
  express_.disable('x-powered-by');
  // No ETag: Express hashed every JSON answer (SHA-1) for it and turned the body into a Buffer, written
  // apart from the headers; no client of this API sends If-None-Match (docs/performance.md, "HTTP").
  express_.set('etag', false);
  guardOperatorEndpoints(app, config);
  return app;
}

/** Before Nest's router: /metrics and the OpenAPI pages are read without an API key, so who may read them is decided here. */
function guardOperatorEndpoints(app: INestApplication, config: AppConfig): void {
  const e = config.endpoints;
  app.use('/metrics', endpointGuard({ name: '/metrics', allowVariable: 'METRICS_ALLOW', allow: toRanges(e.metricsAllow), tokenSha256: e.metricsBearerToken ? tokenDigest(e.metricsBearerToken) : undefined }));
  if (e.docsEnabled) {
    const docs = endpointGuard({ name: '/docs', allowVariable: 'DOCS_ALLOW', allow: toRanges(e.docsAllow) });
    for (const path of ['/docs', '/docs-json', '/docs-yaml']) app.use(path, docs);
    setupDocs(app);
  }
}

/** The same modules on Fastify (JSON bodies up to 1 MB), for the HTTP benchmark. */
async function createFastifyApp(config: AppConfig): Promise<INestApplication> {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  // Fastify names the request before pino-http sees it (which then keeps that id): the same id rule, and the same answer header.
  const adapter = new FastifyAdapter({ bodyLimit: 1024 * 1024, genReqId: requestIdOf });
  adapter.getInstance().addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
  });
  const app = await NestFactory.create(AppModule.register(config), adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  guardOperatorEndpoints(app, config);
  return app;
}

/** The OpenAPI description at /docs (Swagger UI), /docs-json and /docs-yaml. */
function setupDocs(app: INestApplication): void {
  const doc = new DocumentBuilder()
    .setTitle('PSTN gateway')
    .setDescription('Provisioning and billing API (v1). Errors are RFC 9457 problem details.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'docs-json' });
}
