/**
 * The BullMQ dashboard (@bull-board) at /admin/queues, for the admin role only.
 *
 * bull-board is a Fastify plugin (@bull-board/fastify), not a Nest controller, so the global
 * AuthGuard never sees its requests. Rather than proxying its dozens of routes through a controller,
 * this registers the plugin on the Fastify instance in a scope whose onRequest hook checks the Bearer
 * key with ApiKeysService (the same check the guard makes) and answers 401/403 as problem details.
 * Without an Authorization header, the operator console's session cookie is accepted instead
 * (src/auth/console-sessions.ts), so the dashboard opens in a browser after logging in at /console.
 *
 * bull-board's page asks Google Fonts for its typeface: a gateway on a private network cannot reach
 * it, and the console promises that no request leaves for another host. An onSend hook strips that
 * <link> from the HTML (the page falls back to the system sans-serif) and every answer of the scope
 * carries a Content-Security-Policy that allows this origin only (inline styles included: the page
 * has some, and bull-board's React sets others).
 */
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeysService } from '../auth/api-keys.service';
import { ConsoleSessions, sameOrigin } from '../auth/console-sessions';
import { problemOf } from '../platform/problem';
import { BillingQueues } from './billing-queues';

export const DASHBOARD_PATH = '/admin/queues';

@Injectable()
export class QueuesDashboard implements OnModuleInit {
  private readonly log = new Logger('queues-dashboard');

  constructor(
    private readonly host: HttpAdapterHost,
    private readonly keys: ApiKeysService,
    private readonly sessions: ConsoleSessions,
    private readonly queues: BillingQueues,
  ) {}

  onModuleInit(): void {
    const http = this.host.httpAdapter;
    if (!http || http.getType() !== 'fastify') return;
    const board = new FastifyAdapter();
    board.setBasePath(DASHBOARD_PATH);
    createBullBoard({ queues: [new BullMQAdapter(this.queues.cdrs), new BullMQAdapter(this.queues.rental)], serverAdapter: board as never }); // two copies of @bull-board/api typings disagree; same runtime shape
    const fastify = http.getInstance<FastifyInstance>();
    // The hook is added inside the scope, so it guards the dashboard's routes and nothing else.
    void fastify.register(async (scope) => {
      scope.addHook('onRequest', (req, reply) => this.admit(req, reply));
      scope.addHook('onSend', async (_req, reply, payload) => {
        void reply.header('Content-Security-Policy', DASHBOARD_CSP);
        if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('text/html')) return payload;
        return withoutThirdPartyLinks(payload);
      });
      await scope.register(board.registerPlugin(), { prefix: DASHBOARD_PATH });
    });
  }

  private async admit(req: FastifyRequest, res: FastifyReply): Promise<void> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    let principal: Awaited<ReturnType<ApiKeysService['authenticate']>>;
    try {
      if (req.headers.authorization === undefined) {
        // bull-board's page cannot add the console's CSRF header to its own PUT/POST (retry, clean):
        // with a cookie those need an Origin naming this host (browsers send it on every non-GET fetch).
        const session = await this.sessions.check(req, { csrf: false });
        if (session.kind === 'ok' && !['GET', 'HEAD'].includes(req.method) && !sameOrigin(req)) return refuse(res, problemOf('forbidden', 'cross-origin request refused (Origin missing or another host)'));
        if (session.kind === 'ok') principal = session.principal;
        else if (session.kind === 'ended') return refuse(res, problemOf('unauthenticated', 'the console session has ended; log in again'));
      }
      // Undefined for an unknown key; a throw is the key store failing, not a wrong key.
      principal ??= m ? await this.keys.authenticate(m[1]) : undefined;
    } catch (err) {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'queue dashboard: API key not checked (key store unavailable)');
      return refuse(res, problemOf('unavailable', 'the API key could not be checked; try again'));
    }
    if (principal?.role === 'admin') return;
    const p = principal
      ? problemOf('forbidden', `the ${principal.role} role may not do this; allowed: admin`)
      : problemOf('unauthenticated', m ? 'unknown or revoked API key' : 'an Authorization: Bearer <api key> header is required');
    return refuse(res, p);
  }
}

/** This origin only; inline styles because bull-board's page and React components use them. */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
].join('; ');

/** The page without its <link>s to other hosts (bull-board's Google Fonts stylesheet and its preconnects). */
export function withoutThirdPartyLinks(html: string): string {
  return html.replace(/<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^>]*>/gi, '');
}

async function refuse(res: FastifyReply, p: ReturnType<typeof problemOf>): Promise<void> {
  await res.status(p.status).type('application/problem+json').send(JSON.stringify({ ...p, instance: DASHBOARD_PATH }));
}
