/**
 * Bearer API keys with roles, applied to every route unless marked @Public().
 * 401: no key or an unknown/revoked one. 403: a valid key whose role the route does not allow.
 * Without an Authorization header, the operator console's session cookie stands for the key it
 * was opened with (console-sessions.ts): the same role, the same checks, plus its CSRF rule.
 */
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../platform/problem';
import type { ApiRole } from './api-key.entity';
import { ApiKeysService, Principal } from './api-keys.service';
import { ConsoleSessions } from './console-sessions';
import { PUBLIC_KEY, ROLES_KEY } from './roles.decorator';

export type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    private readonly sessions: ConsoleSessions,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = await this.principalOf(req);
    req.principal = principal;
    const allowed = this.reflector.getAllAndOverride<ApiRole[]>(ROLES_KEY, targets) ?? ['admin'];
    if (principal.role !== 'admin' && !allowed.includes(principal.role)) {
      throw new DomainError('forbidden', `the ${principal.role} role may not do this; allowed: ${['admin', ...allowed].join(', ')}`);
    }
    return true;
  }

  private async principalOf(req: FastifyRequest): Promise<Principal> {
    const header = req.headers.authorization;
    if (header === undefined) {
      const session = await this.sessions.check(req);
      if (session.kind === 'ok') return session.principal;
      if (session.kind === 'ended') throw new DomainError('unauthenticated', 'the console session has ended; log in again');
      if (session.kind === 'csrf') throw new DomainError('forbidden', session.reason);
    }
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new DomainError('unauthenticated', 'an Authorization: Bearer <api key> header is required');
    const principal = await this.keys.authenticate(m[1]);
    if (!principal) throw new DomainError('unauthenticated', 'unknown or revoked API key');
    return principal;
  }
}
