/**
 * The operator console's page and login: GET /console (the single-page app built from
 * web/console/ by `npm run build` into dist/web/console/), its hashed assets under
 * /console/assets/, and the session: POST /console/session (an API key in, an HttpOnly session
 * cookie out), GET /console/session (who is logged in), DELETE /console/session (logout).
 * Sessions themselves are src/auth/console-sessions.ts's.
 *
 * The files are read once from the build directory and kept in memory (a few hundred kB). Asset
 * names carry a content hash (Vite), so they are cached for a year as immutable; the page itself
 * is `no-cache`, so a new build is picked up at the next load. Every answer carries a CSP that
 * lets the page load and connect to this origin only: no CDN, no web font, no other host.
 */
import { Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { z } from 'zod';
import { AuthenticatedRequest } from '../auth/auth.guard';
import { ConsoleSessions, csrfRefusal } from '../auth/console-sessions';
import { Public } from '../auth/roles.decorator';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { ApiResult } from '../platform/openapi';
import { DomainError } from '../platform/problem';
import { loginOut, sessionOut } from './console.views';
import { ApiBodyOf, ValidBody } from '../platform/validation';

export const loginRequest = z.strictObject({
  apiKey: z.string().min(1, 'expected an API key').max(512, 'too long for an API key'),
});

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS = { 'Content-Security-Policy': CONSOLE_CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

/** dist/web/console beside dist/src when running the build; the same from the sources (in-process tests after a build). */
function bundleDir(): string {
  const candidates = [resolve(__dirname, '../../web/console'), resolve(__dirname, '../../dist/web/console')];
  return candidates.find((d) => existsSync(resolve(d, 'index.html'))) ?? candidates[0];
}

@ApiTags('console')
@Public()
@Controller('console')
export class ConsolePageController {
  private readonly dir = bundleDir();
  private assets?: Map<string, Buffer>;

  constructor(
    private readonly sessions: ConsoleSessions,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiExcludeEndpoint()
  page(@Res() res: FastifyReply): void {
    const path = resolve(this.dir, 'index.html');
    if (!existsSync(path)) throw new DomainError('unavailable', 'the console is not built (dist/web/console/index.html missing): run npm run build');
    void res.status(200).headers({ ...SECURITY_HEADERS, 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-cache' }).send(readFileSync(path));
  }

  @Get('assets/:name')
  @ApiExcludeEndpoint()
  asset(@Param('name') name: string, @Res() res: FastifyReply): void {
    const body = this.assetFiles().get(name);
    const type = TYPES[extname(name)];
    if (!body || !type) throw new DomainError('not_found', `no file ${name} in the console`);
    void res.status(200).headers({ ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'public, max-age=31536000, immutable' }).send(body);
  }

  @Post('session')
  @HttpCode(201)
  @ApiResult(loginOut, { status: 201 })
  @ApiOperation({
    summary: 'Log in to the console with an API key',
    description:
      'Answers the role and sets an HttpOnly, SameSite=Strict session cookie (Secure over TLS) that stands for the key on /v1 and /admin/queues until CONSOLE_SESSION_TTL_SECONDS or logout. ' +
      'Needs the header X-Console-Request: 1. The key is never stored in the cookie or in Redis (its SHA-256 is).',
  })
  @ApiBodyOf(loginRequest)
  async login(@ValidBody(loginRequest) body: z.infer<typeof loginRequest>, @Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply) {
    const refusal = csrfRefusal(req);
    if (refusal) throw new DomainError('forbidden', refusal);
    const session = await this.sessions.login(body.apiKey.trim(), req);
    if (!session) throw new DomainError('unauthenticated', 'unknown or revoked API key', [{ field: 'apiKey', message: 'unknown or revoked API key' }]);
    void res.header('Set-Cookie', session.cookie).header('Cache-Control', 'no-store');
    return { role: session.principal.role, keyId: session.principal.keyId, expiresInSeconds: this.config.console.sessionTtlSeconds };
  }

  @Get('session')
  @ApiResult(sessionOut)
  @ApiOperation({ summary: 'Who the console session stands for (401 when there is none)' })
  async current(@Req() req: AuthenticatedRequest, @Res({ passthrough: true }) res: FastifyReply) {
    void res.header('Cache-Control', 'no-store');
    const s = await this.sessions.check(req);
    if (s.kind !== 'ok') throw new DomainError('unauthenticated', s.kind === 'ended' ? 'the console session has ended; log in again' : 'not logged in');
    return { role: s.principal.role, keyId: s.principal.keyId };
  }

  @Delete('session')
  @HttpCode(204)
  @ApiOperation({ summary: 'Log out: the session is deleted and its cookie cleared' })
  async logout(@Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply): Promise<void> {
    const refusal = csrfRefusal(req);
    if (refusal) throw new DomainError('forbidden', refusal);
    void res.header('Set-Cookie', await this.sessions.logout(req));
  }

  private assetFiles(): Map<string, Buffer> {
    if (this.assets) return this.assets;
    const dir = resolve(this.dir, 'assets');
    const files = new Map<string, Buffer>();
    if (existsSync(dir)) for (const name of readdirSync(dir)) if (TYPES[extname(name)]) files.set(name, readFileSync(resolve(dir, name)));
    return (this.assets = files);
  }
}
