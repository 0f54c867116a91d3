/**
 * The DID inventory: numbers, their owner user, forwarding rule and the status lifecycle
 * available → assigned → quarantined (on release) → available (after NUMBER_QUARANTINE_DAYS), so
 * calls meant for a number's previous holder do not reach the next one.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { decodeCursor, Page, toPage } from '../platform/pagination';
import { conflict, DomainError, invalid, notFound } from '../platform/problem';
import { UsersService } from '../users/users.service';
import { Did, Forwarding } from './did.entity';
import { NormalisedNumber, normaliseNumber } from './number-format';
import { importNumbers } from './numbers-import';
import { NumbersRepository } from './numbers.repository';
import { createNumber, forwardingInput, numberQuery, updateNumber } from './numbers.schemas';

export interface NumberView {
  id: string;
  e164: string;
  country: string | null;
  type: string;
  status: string;
  userId: string | null;
  forwarding: Forwarding;
  monthlyFee: string;
  quarantinedUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

const view = (d: Did): NumberView => ({
  id: d.id,
  e164: d.e164,
  country: d.country,
  type: d.type,
  status: d.status,
  userId: d.userId,
  forwarding: d.forwarding,
  monthlyFee: d.monthlyFee,
  quarantinedUntil: d.quarantinedUntil?.toISOString() ?? null,
  createdAt: d.createdAt.toISOString(),
  updatedAt: d.updatedAt.toISOString(),
});

const SIP_URI = /^sips?:[^\s<>"]+$/i;

@Injectable()
export class NumbersService {
  constructor(
    private readonly dids: NumbersRepository,
    private readonly users: UsersService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  normalise(input: string, field = 'e164'): NormalisedNumber {
    const r = normaliseNumber(input, this.config.defaultCountry);
    if (!r.ok) throw invalid(field, r.message);
    return r.number;
  }

  async create(input: z.infer<typeof createNumber>): Promise<NumberView> {
    const n = this.normalise(input.e164);
    if (input.userId) await this.requireUser(input.userId);
    if (await this.dids.existsByE164(n.e164)) throw conflict(`${n.e164} is already in the inventory`, 'e164');
    await this.dids.insert({
      id: newId(),
      e164: n.e164,
      country: n.country,
      type: n.type,
      status: input.userId ? 'assigned' : 'available',
      userId: input.userId,
      forwarding: this.forwarding(input.forwarding),
      monthlyFee: input.monthlyFee,
      quarantinedUntil: null,
    });
    return this.get(n.e164);
  }

  async list(q: z.infer<typeof numberQuery>): Promise<Page<NumberView>> {
    await this.releaseQuarantine();
    const rows = await this.dids.list({ ...q, after: decodeCursor(q.cursor), limit: q.limit + 1 });
    return toPage(rows, q.limit, view);
  }

  async get(e164: string): Promise<NumberView> {
    return view(await this.require(e164));
  }

  /** The user's first assigned number (lowest E.164): the caller ID of their calls to the PSTN. */
  firstOfUser(userId: string): Promise<string | undefined> {
    return this.dids.firstOfUser(userId);
  }

  /** The user an assigned DID rings, and its forwarding rule (the B2BUA's lookup: one indexed read, no write). */
  routing(e164: string): Promise<{ userId: string; forwarding: Forwarding } | undefined> {
    return this.dids.routing(e164);
  }

  /** The DID for a called number, or undefined. */
  async findByE164(e164: string): Promise<Did | undefined> {
    await this.releaseQuarantine();
    return this.dids.findByE164(e164);
  }

  async update(e164: string, patch: z.infer<typeof updateNumber>): Promise<NumberView> {
    const did = await this.require(e164);
    const changes: Partial<Did> = { updatedAt: new Date() };
    if (patch.userId !== undefined && patch.userId !== did.userId) Object.assign(changes, await this.assignment(did, patch.userId));
    if (patch.forwarding !== undefined) changes.forwarding = this.forwarding(patch.forwarding);
    if (patch.monthlyFee !== undefined) changes.monthlyFee = patch.monthlyFee;
    await this.dids.update(did.id, changes);
    return this.get(did.e164);
  }

  async remove(e164: string): Promise<void> {
    const did = await this.require(e164);
    if (did.status === 'assigned') throw conflict(`${did.e164} is assigned to user ${did.userId}; release it first`, 'userId');
    await this.dids.delete(did.id);
  }

  importCsv(body: Readable): Promise<{ imported: number }> {
    return importNumbers(this.dids, body, this.config.defaultCountry);
  }

  private async assignment(did: Did, userId: string | null): Promise<Partial<Did>> {
    if (userId === null) {
      const days = this.config.numberQuarantineDays;
      return days === 0
        ? { userId: null, status: 'available', quarantinedUntil: null }
        : { userId: null, status: 'quarantined', quarantinedUntil: new Date(Date.now() + days * 86_400_000) };
    }
    await this.requireUser(userId);
    if (did.status === 'quarantined') {
      throw conflict(`${did.e164} is quarantined until ${did.quarantinedUntil!.toISOString()}`, 'userId');
    }
    if (did.status === 'assigned') {
      throw conflict(`${did.e164} is assigned to user ${did.userId}; release it (userId null) before assigning it again`, 'userId');
    }
    return { userId, status: 'assigned', quarantinedUntil: null };
  }

  private forwarding(f: z.infer<typeof forwardingInput>): Forwarding {
    if (f.mode === 'none') return { mode: 'none', noAnswerSeconds: f.noAnswerSeconds, redirect: false };
    const target = f.target!;
    if (/^sips?:/i.test(target)) {
      if (!SIP_URI.test(target)) throw invalid('forwarding.target', 'not a valid SIP URI');
      return { ...f, target };
    }
    return { ...f, target: this.normalise(target, 'forwarding.target').e164 };
  }

  private async require(e164: string): Promise<Did> {
    await this.releaseQuarantine();
    const n = normaliseNumber(e164, this.config.defaultCountry);
    const did = n.ok ? await this.dids.findByE164(n.number.e164) : undefined;
    if (!did) throw notFound('number', e164);
    return did;
  }

  private async requireUser(userId: string): Promise<void> {
    if (!(await this.users.exists(userId))) {
      throw new DomainError('unprocessable', `user ${userId} does not exist`, [{ field: 'userId', message: 'no such user' }]);
    }
  }

  /** Quarantine ends lazily: one indexed UPDATE before reads, so no timer has to run on every node. */
  private releaseQuarantine(): Promise<void> {
    return this.dids.releaseQuarantine();
  }
}
