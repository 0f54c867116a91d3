/**
 * Every query of the users table, and the one of the numbers table that users needs (how many
 * numbers a user still holds, read before a delete; the numbers module depends on users, so users
 * cannot ask it). The credentials lookup runs on every authenticated SIP request, and "is this
 * dialled string a username" on every call: raw SQL, one indexed query each, without the ORM's
 * per-call overhead. Credentials are kept for CACHE_MS (platform/lookup-cache.ts): every write here
 * clears them, so a change made through this process is seen at once (a disabled user, a new
 * password), and another process sees it within CACHE_MS, as with trunks.
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, LessThan, Repository } from 'typeorm';
import { LookupCache } from '../platform/lookup-cache';
import { User } from './user.entity';

/** What the registrar and the B2BUA need to authenticate a user. */
export interface UserCredentials {
  id: string;
  username: string;
  realm: string;
  ha1Md5: string;
  ha1Sha256: string;
  accountId: string;
  active: boolean;
}

export interface UserFilter {
  after?: string;
  accountId?: string;
  username?: string;
  limit: number;
}

/** How long a per-call read is served from memory (the trunk cache's time). */
const CACHE_MS = 2_000;
const CACHE_ENTRIES = 50_000;

@Injectable()
export class UsersRepository {
  private readonly credentialsCache = new LookupCache<string, UserCredentials | undefined>(CACHE_ENTRIES, CACHE_MS);

  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  async insert(user: Omit<User, 'createdAt' | 'updatedAt'>): Promise<void> {
    this.changed();
    await this.users.save(this.users.create(user));
    this.changed();
  }

  /** Before a write (no read during it keeps the old row) and after it (none started during it stays). */
  private changed(): void {
    this.credentialsCache.clear();
  }

  /** Up to `limit` users after the cursor, newest first. */
  list(f: UserFilter): Promise<User[]> {
    const where: FindOptionsWhere<User> = {};
    if (f.after) where.id = LessThan(f.after);
    if (f.accountId) where.accountId = f.accountId;
    if (f.username) where.username = f.username;
    return this.users.find({ where, order: { id: 'DESC' }, take: f.limit });
  }

  async find(id: string): Promise<User | undefined> {
    return (await this.users.findOneBy({ id })) ?? undefined;
  }

  exists(id: string): Promise<boolean> {
    return this.users.existsBy({ id });
  }

  /** The id of the user with this username, reading nothing else. Not cached: it is asked of the dialled string, a different one on nearly every call. */
  async idOfUsername(username: string): Promise<string | undefined> {
    const rows = (await this.users.query('SELECT id FROM users WHERE username = $1', [username])) as { id: string }[];
    return rows[0]?.id;
  }

  usernameTaken(username: string): Promise<boolean> {
    return this.users.existsBy({ username });
  }

  async update(id: string, changes: Partial<User>): Promise<void> {
    this.changed();
    await this.users.update({ id }, changes);
    this.changed();
  }

  async delete(id: string): Promise<void> {
    this.changed();
    await this.users.delete({ id });
    this.changed();
  }

  async numbersHeld(userId: string): Promise<number> {
    const [{ n }] = (await this.users.query('SELECT count(*)::int AS n FROM numbers WHERE user_id = $1', [userId])) as { n: number }[];
    return n;
  }

  credentials(username: string): Promise<UserCredentials | undefined> {
    return this.credentialsCache.get(username, (name) => this.readCredentials(name));
  }

  private async readCredentials(username: string): Promise<UserCredentials | undefined> {
    const rows = (await this.users.query(
      'SELECT id, username, realm, ha1_md5 AS "ha1Md5", ha1_sha256 AS "ha1Sha256", account_id AS "accountId", status FROM users WHERE username = $1',
      [username],
    )) as (Omit<UserCredentials, 'active'> & { status: string })[];
    if (rows.length === 0) return undefined;
    const { status, ...u } = rows[0];
    return { ...u, active: status === 'active' };
  }
}
