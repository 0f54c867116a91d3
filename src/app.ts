/**
 * Builds the Nest application from a validated config: used by main.ts and by the tests, so both
 * run exactly the same HTTP stack (body limits, OpenAPI, logging, shutdown hooks, and who may
 * read /metrics and /docs: METRICS_ALLOW, METRICS_BEARER_TOKEN, DOCS_ENABLED, DOCS_ALLOW).
 *
 * The gateway serves on @nestjs/platform-fastify (docs/performance.md, "HTTP": 2.2-2.7x the
 * requests per second of Express on the cheap authenticated GET). Body parsing is Fastify's:
 * JSON (application/json and application/*+json) up to 1 MB; text/csv is handed to the importers
 * as the request stream, unread (they stream it through csv-parse and bound it by rows, as before).
 * Fastify's body errors reach ProblemFilter (src/platform/problem.ts), which answers them as problems.
 */
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { AppConfig } from './platform/config';
import { endpointGuard, tokenDigest, toRanges } from './platform/endpoint-access';
import { requestIdOf } from './platform/logging';
import { problemOf } from './platform/problem';

/** JSON bodies over this are a 413 problem. */
export const JSON_BODY_LIMIT = 1024 * 1024;

export async function createApp(config: AppConfig): Promise<INestApplication> {
  // Fastify names the request before pino-http sees it (which then keeps that id): the same id rule, and the same answer header.
  const adapter = new FastifyAdapter({ bodyLimit: JSON_BODY_LIMIT, genReqId: requestIdOf });
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
  });
  // application/*+json parsed as application/json is (Express's express.json took both).
  fastify.addContentTypeParser(/^application\/[^;\s]+\+json\s*(;|$)/i, { parseAs: 'string' }, fastify.getDefaultJsonParser('error', 'error'));
  // The CSV importers read the body as a stream and bound it by rows (src/platform/csv-import.ts): passed on unread.
  fastify.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
  if (!config.roles.includes('api')) servesOnlyProbes(fastify, config);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config), adapter, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  guardOperatorEndpoints(app, config);
  return app;
}

/**
 * A node without the `api` role (ROLES, docs/scaling.md "Roles") serves /health/* and /metrics
 * only: a load balancer and Prometheus still see it, and every other path (REST, /docs, /admin,
 * /phone, /console) is a 404 problem saying which nodes serve it, before any route or guard runs.
 */
function servesOnlyProbes(fastify: FastifyInstance, config: AppConfig): void {
  const detail = `this node runs ROLES=${config.roles.join(',')}: the REST API and web pages are served by nodes with the api role; here only /health/live, /health/ready and /metrics`;
  fastify.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0];
    if (path.startsWith('/health/') || path === '/metrics') return done();
    const p = problemOf('not_found', detail);
    void reply.status(p.status).type('application/problem+json').send(JSON.stringify({ ...p, instance: path }));
  });
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
