/**
 * Every query of the routes table, including the per-call candidate lookup: raw SQL, one indexed
 * query over the number's prefixes joined with the trunks it names.
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, LessThan, Repository } from 'typeorm';
import { Route } from './route.entity';
import type { RouteCandidate } from './route-selection';

export interface RouteFilter {
  after?: string;
  prefix?: string;
  trunkId?: string;
  limit: number;
}

@Injectable()
export class RoutesRepository {
  constructor(@InjectRepository(Route) private readonly routes: Repository<Route>) {}

  async insert(route: Omit<Route, 'createdAt'>): Promise<void> {
    await this.routes.save(this.routes.create(route));
  }

  /** Up to `limit` routes after the cursor, newest first. */
  list(f: RouteFilter): Promise<Route[]> {
    const where: FindOptionsWhere<Route> = {};
    if (f.after) where.id = LessThan(f.after);
    if (f.prefix !== undefined) where.prefix = f.prefix;
    if (f.trunkId) where.trunkId = f.trunkId;
    return this.routes.find({ where, order: { id: 'DESC' }, take: f.limit });
  }

  async find(id: string): Promise<Route | undefined> {
    return (await this.routes.findOneBy({ id })) ?? undefined;
  }

  existsFor(prefix: string, trunkId: string): Promise<boolean> {
    return this.routes.existsBy({ prefix, trunkId });
  }

  countForTrunk(trunkId: string): Promise<number> {
    return this.routes.countBy({ trunkId });
  }

  /** Deletes the route; false when there was none. */
  async delete(id: string): Promise<boolean> {
    return !!(await this.routes.delete({ id })).affected;
  }

  /** The routes whose prefix is one of `prefixes`, with their trunk's state. */
  async candidates(prefixes: string[]): Promise<RouteCandidate[]> {
    return (await this.routes.query(
      `SELECT r.id AS "routeId", r.prefix, r.priority, r.weight, t.id AS "trunkId", t.enabled AS "trunkEnabled"
       FROM routes r JOIN trunks t ON t.id = r.trunk_id
       WHERE r.prefix = ANY($1::text[])`,
      [prefixes],
    )) as RouteCandidate[];
  }
}
