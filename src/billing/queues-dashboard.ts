/**
 * The BullMQ dashboard (@bull-board) at /admin/queues, for the admin role only.
 *
 * bull-board is a Fastify plugin (@bull-board/fastify), not a Nest controller, so the global
 * AuthGuard never sees its requests. Rather than proxying its dozens of routes through a controller,
 * this registers the plugin on the Fastify instance in a scope whose onRequest hook checks the Bearer
 * key with ApiKeysService (the same check the guard makes) and answers 401/403 as problem details.
 */
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeysService } from '../auth/api-keys.service';
import { problemOf } from '../platform/problem';
import { BillingQueues } from './billing-queues';

export const DASHBOARD_PATH = '/admin/queues';

@Injectable()
export class QueuesDashboard implements OnModuleInit {
  private readonly log = new Logger('queues-dashboard');

  constructor(
    private readonly host: HttpAdapterHost,
    private readonly keys: ApiKeysService,
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
      await scope.register(board.registerPlugin(), { prefix: DASHBOARD_PATH });
    });
  }

  private async admit(req: FastifyRequest, res: FastifyReply): Promise<void> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    let principal: Awaited<ReturnType<ApiKeysService['authenticate']>>;
    try {
      // Undefined for an unknown key; a throw is the key store failing, not a wrong key.
      principal = m ? await this.keys.authenticate(m[1]) : undefined;
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

async function refuse(res: FastifyReply, p: ReturnType<typeof problemOf>): Promise<void> {
  await res.status(p.status).type('application/problem+json').send(JSON.stringify({ ...p, instance: DASHBOARD_PATH }));
}
