/**
 * Every query of the users table, and the one of the numbers table that users needs (how many
 * numbers a user still holds, read before a delete; the numbers module depends on users, so users
 * cannot ask it). The credentials lookup runs on every authenticated SIP request: raw SQL, one
 * indexed query, without the ORM's per-call overhead.
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, MoreThan, Repository } from 'typeorm';
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

@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  async insert(user: Omit<User, 'createdAt' | 'updatedAt'>): Promise<void> {
    await this.users.save(this.users.create(user));
  }

  /** Up to `limit` users after the cursor, by id. */
  list(f: UserFilter): Promise<User[]> {
    const where: FindOptionsWhere<User> = {};
    if (f.after) where.id = MoreThan(f.after);
    if (f.accountId) where.accountId = f.accountId;
    if (f.username) where.username = f.username;
    return this.users.find({ where, order: { id: 'ASC' }, take: f.limit });
  }

  async find(id: string): Promise<User | undefined> {
    return (await this.users.findOneBy({ id })) ?? undefined;
  }

  exists(id: string): Promise<boolean> {
    return this.users.existsBy({ id });
  }

  /** The id of the user with this username, reading nothing else. */
  async idOfUsername(username: string): Promise<string | undefined> {
    return (await this.users.findOne({ where: { username }, select: { id: true } }))?.id;
  }

  usernameTaken(username: string): Promise<boolean> {
    return this.users.existsBy({ username });
  }

  async update(id: string, changes: Partial<User>): Promise<void> {
    await this.users.update({ id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.users.delete({ id });
  }

  async numbersHeld(userId: string): Promise<number> {
    const [{ n }] = (await this.users.query('SELECT count(*)::int AS n FROM numbers WHERE user_id = $1', [userId])) as { n: number }[];
    return n;
  }

  async credentials(username: string): Promise<UserCredentials | undefined> {
    const rows = (await this.users.query(
      'SELECT id, username, realm, ha1_md5 AS "ha1Md5", ha1_sha256 AS "ha1Sha256", account_id AS "accountId", status FROM users WHERE username = $1',
      [username],
    )) as (Omit<UserCredentials, 'active'> & { status: string })[];
    if (rows.length === 0) return undefined;
    const { status, ...u } = rows[0];
    return { ...u, active: status === 'active' };
  }
}
