/**
 * SIP trunks: CRUD with write-only passwords sealed by SecretBox, and the B2BUA's view of them: a
 * short-lived cache of every trunk (each INVITE checks the inbound allow-lists), the trunk a source
 * address belongs to, and the attempts a routed call makes, as plain values.
 */
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, notFound } from '../platform/problem';
import { SecretBox } from '../platform/secret-box';
import { escapeUser, formatHost } from '../sip';
import type { RouteCandidate } from './route-selection';
import { addressAllowed } from './cidr';
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

/** How long the trunk cache serves reads; changes made through this process are seen at once (`revision`). */
const CACHE_MS = 2_000;

/** One trunk to try for a destination, as the B2BUA sends the INVITE to it. */
export interface TrunkAttempt {
  readonly trunkId: string;
  readonly trunkName: string;
  /** null: no limit. */
  readonly maxChannels: number | null;
  readonly target: { readonly host: string; readonly port: number; readonly transport: 'UDP' | 'TCP' };
  readonly requestUri: string;
  /** The To header's URI (the destination at the trunk, without transport). */
  readonly toUri: string;
  /** For the trunk's digest challenge; undefined when the trunk has no username and password. */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Addresses (CIDRs) the trunk's media may come from besides its host. */
  readonly mediaSources: readonly string[];
}

@Injectable()
export class TrunksService {
  private cache?: { at: number; trunks: Promise<Trunk[]>; revision: number };

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

  /** Every trunk, cached for CACHE_MS; a change made through this process is seen at once. Passwords stay sealed. */
  cached(): Promise<Trunk[]> {
    const now = Date.now();
    if (!this.cache || now - this.cache.at > CACHE_MS || this.cache.revision !== this.revision) {
      const trunks = this.all();
      this.cache = { at: now, trunks, revision: this.revision };
      // The reader gets the failure through `trunks`; the cache only forgets it, so the next read tries again.
      trunks.catch(() => this.forget(trunks));
    }
    return this.cache.trunks;
  }

  /** The enabled trunk whose inbound addresses allow `address`: a call from it is the trunk's. */
  async fromAddress(address: string): Promise<Trunk | undefined> {
    return (await this.cached()).find((t) => t.enabled && t.inboundAddresses.length > 0 && addressAllowed(address, t.inboundAddresses));
  }

  /**
   * The trunks to try for `destination`, in the candidates' order: enabled ones over UDP or TCP
   * (TLS is not supported for trunks). A trunk newer than the cache is read again rather than skipped.
   */
  async attempts(destination: string, candidates: readonly RouteCandidate[]): Promise<TrunkAttempt[]> {
    let trunks = new Map((await this.cached()).map((t) => [t.id, t]));
    if (candidates.some((c) => !trunks.has(c.trunkId))) {
      this.cache = undefined;
      trunks = new Map((await this.cached()).map((t) => [t.id, t]));
    }
    const out: TrunkAttempt[] = [];
    for (const c of candidates) {
      const t = trunks.get(c.trunkId);
      if (!t || !t.enabled || t.transport === 'tls') continue;
      const transport = t.transport === 'tcp' ? 'TCP' : 'UDP';
      const at = `${escapeUser(destination)}@${formatHost(t.host)}:${t.port}`;
      out.push({
        trunkId: t.id,
        trunkName: t.name,
        maxChannels: t.maxChannels,
        target: { host: t.host, port: t.port, transport },
        requestUri: `sip:${at}${transport === 'TCP' ? ';transport=tcp' : ''}`,
        toUri: `sip:${at}`,
        credentials: t.username && t.passwordSealed ? { username: t.username, password: this.box.open(t.passwordSealed) } : undefined,
        mediaSources: t.inboundAddresses,
      });
    }
    return out;
  }

  private forget(trunks: Promise<Trunk[]>): void {
    if (this.cache?.trunks === trunks) this.cache = undefined;
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
