/**
 * Internet users (SIP identities). Passwords arrive only to be turned into digest HA1s with the
 * configured realm; the registrar authenticates through `findCredentials`, and the B2BUA asks
 * whether a dialled string is a username with `idOfUsername`.
 *
 * When a user's credentials stop being valid (disabled, deleted, new password or username) the
 * users module tells whoever listens (`onCredentialsRevoked`): the registrar then drops the user's
 * contact bindings. The registrar already depends on users (it authenticates against them), so it
 * subscribes here rather than users importing the registrar: no cycle, and users stays unaware of
 * SIP.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { AccountsService } from '../billing/accounts.service';
import { advertisedHostPort } from '../platform/advertised-host';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { conflict, DomainError, invalid, notFound } from '../platform/problem';
import { uuid } from '../platform/validation';
import { digestHa1 } from './digest-ha1';
import { User, userStatuses } from './user.entity';
import { UserCredentials, UsersRepository } from './users.repository';

/** SIP user part characters that need no escaping (RFC 3261 §25.1 `unreserved` and `user-unreserved`). */
const username = z
  .string()
  .regex(/^[A-Za-z0-9._~!$&'()*+,;=-]{1,64}$/, 'expected 1-64 characters from letters, digits and -._~!$&\'()*+,;=');
const password = z.string().min(8, 'expected at least 8 characters').max(128);

export const createUser = z.strictObject({
  username,
  password,
  displayName: z.string().trim().max(200).nullable().default(null),
  accountId: uuid.describe('the account that pays for the user’s calls; it needs a rateDeckId for outbound calls'),
  status: z.enum(userStatuses).default('active'),
});
export const updateUser = z.strictObject({
  username: username.optional(),
  password: password.optional(),
  displayName: z.string().trim().max(200).nullable().optional(),
  accountId: uuid.optional(),
  status: z.enum(userStatuses).optional(),
});
export const userQuery = pageQuery.extend({ accountId: uuid.optional(), username: z.string().max(64).optional() });

export interface UserView {
  id: string;
  username: string;
  displayName: string | null;
  accountId: string;
  status: string;
  /** The address a softphone registers as: the username at the gateway's advertised SIP host and port. */
  sipUri: string;
  /** The digest realm (SIP_REALM) the phone authenticates in; not a host anything can dial. */
  realm: string;
  createdAt: string;
  updatedAt: string;
}

export type { UserCredentials } from './users.repository';

/** Runs after a user's credentials were revoked; the change is already committed. */
export type CredentialsRevokedListener = (userId: string) => Promise<void>;

@Injectable()
export class UsersService {
  private readonly log = new Logger('users');
  private readonly revokedListeners: CredentialsRevokedListener[] = [];

  constructor(
    private readonly users: UsersRepository,
    private readonly accounts: AccountsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sipHostPort = advertisedHostPort(config);
  }

  private readonly sipHostPort: string;

  async create(input: z.infer<typeof createUser>): Promise<UserView> {
    await this.requireAccount(input.accountId);
    await this.requireFreeUsername(input.username);
    const ha1 = digestHa1(input.username, this.config.sipRealm, input.password);
    const id = newId();
    await this.users.insert({
      id,
      username: input.username,
      realm: this.config.sipRealm,
      ha1Md5: ha1.md5,
      ha1Sha256: ha1.sha256,
      displayName: input.displayName,
      accountId: input.accountId,
      status: input.status,
    });
    return this.get(id);
  }

  async list(q: z.infer<typeof userQuery>): Promise<Page<UserView>> {
    const rows = await this.users.list({ after: decodeCursor(q.cursor), accountId: q.accountId, username: q.username, limit: q.limit + 1 });
    return toPage(rows, q.limit, (u) => this.view(u));
  }

  async get(id: string): Promise<UserView> {
    return this.view(await this.require(id));
  }

  async update(id: string, patch: z.infer<typeof updateUser>): Promise<UserView> {
    const user = await this.require(id);
    if (patch.username !== undefined && patch.username !== user.username) {
      // HA1 covers the username, so a new name without the password would leave no valid credential.
      if (patch.password === undefined) throw invalid('password', 'required when the username changes (the digest hash covers the username)');
      await this.requireFreeUsername(patch.username);
    }
    if (patch.accountId) await this.requireAccount(patch.accountId);
    const changes: Partial<User> = { updatedAt: new Date() };
    if (patch.username !== undefined) changes.username = patch.username;
    if (patch.displayName !== undefined) changes.displayName = patch.displayName;
    if (patch.accountId !== undefined) changes.accountId = patch.accountId;
    if (patch.status !== undefined) changes.status = patch.status;
    if (patch.password !== undefined) {
      const ha1 = digestHa1(changes.username ?? user.username, this.config.sipRealm, patch.password);
      Object.assign(changes, { ha1Md5: ha1.md5, ha1Sha256: ha1.sha256, realm: this.config.sipRealm });
    }
    await this.users.update(id, changes);
    const revoked = patch.password !== undefined || (patch.username !== undefined && patch.username !== user.username) || (patch.status !== undefined && patch.status !== 'active');
    if (revoked) await this.credentialsRevoked(id);
    return this.get(id);
  }

  /** Subscribes to revocations (the registrar, to drop bindings). */
  onCredentialsRevoked(listener: CredentialsRevokedListener): void {
    this.revokedListeners.push(listener);
  }

  /**
   * Tells every listener, and fails the request if one fails: the change itself is committed, and
   * repeating the same PATCH or DELETE (idempotent) runs the listeners again.
   */
  private async credentialsRevoked(userId: string): Promise<void> {
    for (const listener of this.revokedListeners) {
      try {
        await listener(userId);
      } catch (err) {
        this.log.error({ err: (err as Error).message, userId }, 'revoked credentials: a listener failed (e.g. bindings not removed); repeat the request');
        throw new DomainError('unavailable', 'the change is saved, but the user\'s registrations could not be removed; repeat the request');
      }
    }
  }

  async remove(id: string): Promise<void> {
    await this.require(id);
    const n = await this.users.numbersHeld(id);
    if (n > 0) throw conflict(`user ${id} still has ${n} assigned number(s); release them first`, 'id');
    await this.users.delete(id);
    await this.credentialsRevoked(id);
  }

  async exists(id: string): Promise<boolean> {
    return this.users.exists(id);
  }

  /** Runs on every authenticated SIP request: one indexed query (see UsersRepository.credentials). */
  async findCredentials(username: string): Promise<UserCredentials | undefined> {
    return this.users.credentials(username);
  }

  /** The id of the user with this username, or undefined: is a dialled string one of our users? No credentials are read. */
  async idOfUsername(username: string): Promise<string | undefined> {
    return this.users.idOfUsername(username);
  }

  private view(u: User): UserView {
    return {
      id: u.id,
      username: u.username,
      displayName: u.displayName,
      accountId: u.accountId,
      status: u.status,
      sipUri: `sip:${u.username}@${this.sipHostPort}`,
      realm: this.config.sipRealm,
      createdAt: u.createdAt.toISOString(),
      updatedAt: u.updatedAt.toISOString(),
    };
  }

  private async require(id: string): Promise<User> {
    const u = await this.users.find(id);
    if (!u) throw notFound('user', id);
    return u;
  }

  private async requireAccount(accountId: string): Promise<void> {
    if (!(await this.accounts.find(accountId))) {
      throw new DomainError('unprocessable', `account ${accountId} does not exist`, [{ field: 'accountId', message: 'no such account' }]);
    }
  }

  private async requireFreeUsername(name: string): Promise<void> {
    if (await this.users.usernameTaken(name)) throw conflict(`username ${name} is taken`, 'username');
  }
}
