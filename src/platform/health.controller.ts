import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { Public } from '../auth/roles.decorator';
import { pingDatabase } from './database';
import { NodeLifecycle } from './node-lifecycle';
import { REDIS } from './redis';

async function probe(name: string, check: () => Promise<unknown>): Promise<{ name: string; ok: boolean; error?: string }> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out after 2000 ms')), 2000).unref());
  try {
    await Promise.race([check(), timeout]);
    return { name, ok: true };
  } catch (e) {
    return { name, ok: false, error: (e as Error).message };
  }
}

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly lifecycle: NodeLifecycle,
  ) {}

  /** The process is up; no dependency checked (a restart would not help them). */
  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /**
   * PostgreSQL and Redis answer: the node may take traffic. While the node drains (SIGTERM), 503
   * `{status:'draining'}` at once, without probing: a load balancer must take it out now.
   */
  @Get('ready')
  async ready(@Res({ passthrough: true }) res: FastifyReply) {
    if (this.lifecycle.draining) {
      res.status(503);
      return { status: 'draining', since: this.lifecycle.since!.toISOString() };
    }
    const checks = await Promise.all([probe('postgres', () => pingDatabase(this.db)), probe('redis', () => this.redis.ping())]);
    const ok = checks.every((c) => c.ok);
    res.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', checks };
  }
}
