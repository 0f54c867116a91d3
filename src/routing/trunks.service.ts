/** SIP trunks: CRUD with write-only passwords sealed by SecretBox. */
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, notFound } from '../platform/problem';
import { SecretBox } from '../platform/secret-box';
import { RoutesRepository } from './routes.repository';
import { createTrunk, trunkQuery, updateTrunk } from './routing.schemas';
import { Trunk } from './trunk.entity';
import { TrunksRepository } from './trunks.repository';

export interface TrunkView {
  id: string;
  name: string;
  host: string;
  port: number;
  transport: string;
  username: string | null;
  hasPassword: boolean;
  inboundAddresses: string[];
  maxChannels: number | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

const view = (t: Trunk): TrunkView => ({
  id: t.id,
  name: t.name,
  host: t.host,
  port: t.port,
  transport: t.transport,
  username: t.username,
  hasPassword: t.passwordSealed !== null,
  inboundAddresses: t.inboundAddresses,
  maxChannels: t.maxChannels,
  enabled: t.enabled,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

@Injectable()
export class TrunksService {
  constructor(
    private readonly trunks: TrunksRepository,
    private readonly routes: RoutesRepository,
    private readonly box: SecretBox,
  ) {}

  /** Bumped by every change made through this process: caches of trunks compare it (other nodes see changes within their cache time). */
  revision = 0;

  async create(input: z.infer<typeof createTrunk>): Promise<TrunkView> {
    this.revision++;
    if (await this.trunks.nameTaken(input.name)) throw conflict(`a trunk named ${input.name} exists`, 'name');
    const { password, ...rest } = input;
    const id = newId();
    await this.trunks.insert({ id, ...rest, passwordSealed: password === null ? null : this.box.seal(password) });
    return this.get(id);
  }

  async list(q: z.infer<typeof trunkQuery>): Promise<Page<TrunkView>> {
    return toPage(await this.trunks.list({ after: decodeCursor(q.cursor), enabled: q.enabled, limit: q.limit + 1 }), q.limit, view);
  }

  async get(id: string): Promise<TrunkView> {
    return view(await this.require(id));
  }

  async update(id: string, patch: z.infer<typeof updateTrunk>): Promise<TrunkView> {
    this.revision++;
    const t = await this.require(id);
    if (patch.name !== undefined && patch.name !== t.name && (await this.trunks.nameTaken(patch.name))) {
      throw conflict(`a trunk named ${patch.name} exists`, 'name');
    }
    const { password, ...rest } = patch;
    const changes: Partial<Trunk> = { ...rest, updatedAt: new Date() };
    if (password !== undefined) changes.passwordSealed = password === null ? null : this.box.seal(password);
    await this.trunks.update(id, changes);
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    this.revision++;
    await this.require(id);
    const routes = await this.routes.countForTrunk(id);
    if (routes > 0) throw conflict(`trunk ${id} is used by ${routes} route(s); delete them first`, 'id');
    await this.trunks.delete(id);
  }

  /** The trunk's password in clear, for answering its digest challenge (never for the API). */
  async credentials(id: string): Promise<{ username: string; password: string } | undefined> {
    const t = await this.require(id);
    return t.username && t.passwordSealed ? { username: t.username, password: this.box.open(t.passwordSealed) } : undefined;
  }

  /** Every trunk, for the B2BUA's short-lived cache (allow-lists and targets); passwords stay sealed. */
  async all(): Promise<Trunk[]> {
    return this.trunks.all();
  }

  async exists(id: string): Promise<boolean> {
    return this.trunks.exists(id);
  }

  private async require(id: string): Promise<Trunk> {
    const t = await this.trunks.find(id);
    if (!t) throw notFound('trunk', id);
    return t;
  }
}
