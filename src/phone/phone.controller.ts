/**
 * The browser softphone: the bundled page at GET /phone (built from web/phone/ by `npm run build`
 * into dist/web/phone/), and POST /phone/turn-credentials, which gives a logged-in user the ICE
 * servers of the gateway's configuration with time-limited TURN credentials.
 *
 * Public routes (no API key): the page is for internet users, who prove themselves with their SIP
 * username and password instead. Must not import the registrar or calls.
 */
import { Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { Public } from '../auth/roles.decorator';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { DomainError } from '../platform/problem';
import { ApiBodyOf, ValidBody } from '../platform/validation';
import { PhoneLoginService } from './phone-login.service';
import { iceServersFor } from './turn-credentials';
import { ApiResult } from '../platform/openapi';

export const turnCredentialsRequest = z.strictObject({
  username: z.string().min(1, 'expected the SIP username').max(64),
  password: z.string().min(1, 'expected the SIP password').max(128),
});

/** The files of the bundle, by the name the page asks for, with their media types. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * Where the bundle is: dist/web/phone beside dist/src when running the build, and the same
 * dist/web/phone from the sources (tests that boot the app in-process after `npm run build`).
 */
function bundleDir(): string {
  const candidates = [resolve(__dirname, '../../web/phone'), resolve(__dirname, '../../dist/web/phone')];
  return candidates.find((d) => existsSync(resolve(d, 'app.js'))) ?? candidates[0];
}

/**
 * Only this origin's scripts and styles run; media and SIP over WebSocket may reach any host
 * (the WebSocket listener is on another port, or another name behind a proxy).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

@ApiTags('phone')
@Public()
@Controller('phone')
export class PhoneController {
  private readonly dir = bundleDir();
  private readonly cache = new Map<string, Buffer>();

  constructor(
    private readonly login: PhoneLoginService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiExcludeEndpoint()
  page(@Res() res: FastifyReply): void {
    this.send(res, 'index.html');
  }

  @Get(':asset')
  @ApiExcludeEndpoint()
  asset(@Param('asset') name: string, @Res() res: FastifyReply): void {
    if (!Object.hasOwn(ASSETS, name) || name === 'index.html') throw new DomainError('not_found', `no file ${name} in the phone page`);
    this.send(res, name);
  }

  @Post('turn-credentials')
  @HttpCode(200)
  @ApiOperation({
    summary: 'ICE servers for a logged-in browser user',
    description:
      'Checks the SIP username and password, then returns the configured ICE servers with TURN REST API credentials (username "<expiry>:<user>", credential base64 HMAC-SHA1 under TURN_SECRET). `iceServers` is empty when no TURN is configured. Failures are rate-limited per address and per username (429 with Retry-After).',
  })
  @ApiBodyOf(turnCredentialsRequest)
  @ApiResult(z.object({ iceServers: z.array(z.object({ urls: z.union([z.string(), z.array(z.string())]), username: z.string().optional(), credential: z.string().optional() })) }))
  async turnCredentials(@ValidBody(turnCredentialsRequest) body: z.infer<typeof turnCredentialsRequest>, @Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'no-store');
    const outcome = await this.login.check(body.username, body.password, req.raw.socket.remoteAddress ?? 'unknown');
    if (!outcome.ok) {
      if (outcome.reason === 'rate-limited') {
        res.header('Retry-After', String(outcome.retryAfterSeconds));
        throw new DomainError('too_many_requests', 'too many failed logins; try again later');
      }
      if (outcome.reason === 'disabled') throw new DomainError('forbidden', 'this user is disabled');
      throw new DomainError('unauthenticated', 'wrong username or password', [{ field: 'password', message: 'wrong username or password' }]);
    }
    return iceServersFor(this.config.turn, outcome.user.username, Date.now());
  }

  private send(res: FastifyReply, name: string): void {
    let body = this.cache.get(name);
    if (!body) {
      const path = resolve(this.dir, name);
      if (!existsSync(path)) throw new DomainError('unavailable', `the phone page is not built (${name} missing): run npm run build`);
      body = readFileSync(path);
      this.cache.set(name, body);
    }
    res
      .status(200)
      .headers({ 'Content-Type': ASSETS[name], 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-cache' })
      .send(body);
  }
}
