/**
 * Builds the Nest application from a validated config: used by main.ts and by the tests, so both
 * run exactly the same HTTP stack (body limits, OpenAPI, logging, shutdown hooks, and who may
 * read /metrics and /docs: METRICS_ALLOW, METRICS_BEARER_TOKEN, DOCS_ENABLED, DOCS_ALLOW).
 */
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from './platform/config';
import { endpointGuard, tokenDigest, toRanges } from './platform/endpoint-access';
import { problemOf } from './platform/problem';

export async function createApp(config: AppConfig): Promise<INestApplication> {
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
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  // Before Nest's router: /metrics and the OpenAPI pages are read without an API key, so who may read them is decided here.
  const e = config.endpoints;
  app.use('/metrics', endpointGuard({ name: '/metrics', allowVariable: 'METRICS_ALLOW', allow: toRanges(e.metricsAllow), tokenSha256: e.metricsBearerToken ? tokenDigest(e.metricsBearerToken) : undefined }));
  if (e.docsEnabled) {
    app.use(['/docs', '/docs-json', '/docs-yaml'], endpointGuard({ name: '/docs', allowVariable: 'DOCS_ALLOW', allow: toRanges(e.docsAllow) }));
    setupDocs(app);
  }
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
