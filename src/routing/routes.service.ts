/** Outbound routes (prefix → trunk, priority, weight). */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, MoreThan, Repository } from 'typeorm';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, DomainError, notFound } from '../platform/problem';
import { Route } from './route.entity';
import { prefixesOf, RouteCandidate, selectRoutes } from './route-selection';
import { createRoute, routeQuery } from './routing.schemas';
import { Trunk } from './trunk.entity';

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
    @InjectRepository(Route) private readonly routes: Repository<Route>,
    @InjectRepository(Trunk) private readonly trunks: Repository<Trunk>,
  ) {}

  async create(input: z.infer<typeof createRoute>): Promise<RouteView> {
    if (!(await this.trunks.existsBy({ id: input.trunkId }))) {
      throw new DomainError('unprocessable', `trunk ${input.trunkId} does not exist`, [{ field: 'trunkId', message: 'no such trunk' }]);
    }
    if (await this.routes.existsBy({ prefix: input.prefix, trunkId: input.trunkId })) {
      throw conflict(`a route for prefix "${input.prefix}" to this trunk exists`, 'prefix');
    }
    const r = this.routes.create({ id: newId(), ...input });
    await this.routes.save(r);
    return this.get(r.id);
  }

  async list(q: z.infer<typeof routeQuery>): Promise<Page<RouteView>> {
    const after = decodeCursor(q.cursor);
    const where: FindOptionsWhere<Route> = {};
    if (after) where.id = MoreThan(after);
    if (q.prefix !== undefined) where.prefix = q.prefix;
    if (q.trunkId) where.trunkId = q.trunkId;
    return toPage(await this.routes.find({ where, order: { id: 'ASC' }, take: q.limit + 1 }), q.limit, view);
  }

  async get(id: string): Promise<RouteView> {
    const r = await this.routes.findOneBy({ id });
    if (!r) throw notFound('route', id);
    return view(r);
  }

  /**
   * The trunks a call to `destination` tries, in order (see route-selection.ts). One indexed query
   * over the number's prefixes. A trunk's maxChannels is checked when the call takes its channel.
   */
  async candidates(destination: string, seed: string): Promise<RouteCandidate[]> {
    const rows = (await this.routes.query(
      `SELECT r.id AS "routeId", r.prefix, r.priority, r.weight, t.id AS "trunkId", t.enabled AS "trunkEnabled"
       FROM routes r JOIN trunks t ON t.id = r.trunk_id
       WHERE r.prefix = ANY($1::text[])`,
      [prefixesOf(destination)],
    )) as RouteCandidate[];
    return selectRoutes({ destination, routes: rows, seed });
  }

  async remove(id: string): Promise<void> {
    const r = await this.routes.delete({ id });
    if (!r.affected) throw notFound('route', id);
  }
}
