/**
 * What the console's dashboard and users page need and no domain API gave: GET /v1/overview (calls
 * in progress on this node, registered users and devices, the CDR queue's depth) and
 * GET /v1/registrations (every registered device, by user). Both read other modules' exported
 * services only.
 */
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator';
import { BillingQueues } from '../billing/billing-queues';
import { CallsService } from '../calls/calls.service';
import { ApiResult } from '../platform/openapi';
import { RegistrarService } from '../registrar/registrar.service';
import { overviewOut, registrationsOut } from './console.views';

/** Users listed at most by GET /v1/registrations and counted by the overview (SCAN over Redis). */
export const MAX_REGISTERED_USERS = 5000;

@ApiTags('console')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1')
export class ConsoleApiController {
  constructor(
    private readonly calls: CallsService,
    private readonly registrar: RegistrarService,
    private readonly queues: BillingQueues,
  ) {}

  @Get('overview')
  @ApiResult(overviewOut)
  @ApiOperation({ summary: 'Calls in progress on this node, registrations and the CDR rating queue, for the dashboard' })
  async overview() {
    const calls = this.calls.list();
    const { byUser, truncated } = await this.registrar.allBindings(MAX_REGISTERED_USERS);
    const counts = await this.queues.cdrs.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    return {
      at: new Date().toISOString(),
      calls: { inProgress: calls.length, answered: calls.filter((c) => c.answeredAt !== null).length, ringing: calls.filter((c) => c.answeredAt === null).length },
      registrations: { users: byUser.size, devices: [...byUser.values()].reduce((n, b) => n + b.length, 0), truncated },
      cdrQueue: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 },
    };
  }

  @Get('registrations')
  @ApiResult(registrationsOut)
  @ApiOperation({ summary: 'Every registered device: user, contact, source address, transport, user agent, expiry (at most 5000 users)' })
  async registrations() {
    const now = Date.now();
    const { byUser, truncated } = await this.registrar.allBindings(MAX_REGISTERED_USERS);
    const data = [...byUser.entries()].flatMap(([userId, bindings]) =>
      bindings.map((b) => ({
        userId,
        contact: b.uri,
        sourceAddress: b.source.address,
        sourcePort: b.source.port,
        transport: b.source.transport.toLowerCase(),
        userAgent: b.userAgent ?? null,
        registeredAt: new Date(b.registeredAt).toISOString(),
        expiresIn: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
      })),
    );
    return { data, truncated };
  }
}
