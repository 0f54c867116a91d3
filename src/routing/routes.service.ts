/** Outbound routes (prefix → trunk, priority, weight). */
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, DomainError, notFound } from '../platform/problem';
import { Route } from './route.entity';
import { prefixesOf, RouteCandidate, selectRoutes } from './route-selection';
import { RoutesRepository } from './routes.repository';
import { createRoute, routeQuery } from './routing.schemas';
import { TrunksRepository } from './trunks.repository';

export interface RouteView {
  id: string;
  prefix: string;
  trunkId: string;
  priority: number;
  weight: number;
  createdAt: string;
}

const view = (r: Route): RouteView => ({ id: r.id, prefix: r.prefix, trunkId: r.trunkId, priority: r.priority, weight: r.weight, createdAt: r.createdAt.toISOString() });

@Injectable()
export class RoutesService {
  constructor(
    private readonly routes: RoutesRepository,
    private readonly trunks: TrunksRepository,
  ) {}

  async create(input: z.infer<typeof createRoute>): Promise<RouteView> {
    if (!(await this.trunks.exists(input.trunkId))) {
      throw new DomainError('unprocessable', `trunk ${input.trunkId} does not exist`, [{ field: 'trunkId', message: 'no such trunk' }]);
    }
    if (await this.routes.existsFor(input.prefix, input.trunkId)) {
      throw conflict(`a route for prefix "${input.prefix}" to this trunk exists`, 'prefix');
    }
    const id = newId();
    await this.routes.insert({ id, ...input });
    return this.get(id);
  }

  async list(q: z.infer<typeof routeQuery>): Promise<Page<RouteView>> {
    return toPage(await this.routes.list({ after: decodeCursor(q.cursor), prefix: q.prefix, trunkId: q.trunkId, limit: q.limit + 1 }), q.limit, view);
  }

  async get(id: string): Promise<RouteView> {
    const r = await this.routes.find(id);
    if (!r) throw notFound('route', id);
    return view(r);
  }

  /**
   * The trunks a call to `destination` tries, in order (see route-selection.ts). One indexed query
   * over the number's prefixes. A trunk's maxChannels is checked when the call takes its channel.
   */
  async candidates(destination: string, seed: string): Promise<RouteCandidate[]> {
    const routes = await this.routes.candidates(prefixesOf(destination));
    return selectRoutes({ destination, routes, seed });
  }

  async remove(id: string): Promise<void> {
    if (!(await this.routes.delete(id))) throw notFound('route', id);
  }
}
