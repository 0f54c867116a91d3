/** GET /v1/stats/calls: the dashboard's call statistics from the CDRs (call-stats.ts). */
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator';
import { ApiResult } from '../platform/openapi';
import { ApiQueryOf, ValidQuery } from '../platform/validation';
import { CallStats, CallStatsQuery, callStatsOut, callStatsQuery, statsWindow, toCallStats } from './call-stats';
import { CallStatsRepository } from './call-stats.repository';

@ApiTags('billing')
@ApiBearerAuth()
@Roles('operator', 'billing')
@Controller('v1/stats')
export class StatsController {
  constructor(private readonly stats: CallStatsRepository) {}

  @Get('calls')
  @ApiOperation({
    summary: 'Calls per minute, ASR, ACD and post-dial delay per time bucket, trunk and direction',
    description:
      'From the finished call attempts (CDRs) started in [from, to). ASR: answered / attempts. ACD: mean duration of the answered calls in seconds. ' +
      'Post-dial delay: mean ms from the INVITE to the first ringing (or the answer when nothing rang), over the attempts that rang or were answered. ' +
      'Buckets without calls are left out. At most 2000 buckets.',
  })
  @ApiQueryOf(callStatsQuery)
  @ApiResult(callStatsOut)
  async calls(@ValidQuery(callStatsQuery) q: CallStatsQuery): Promise<CallStats> {
    const window = statsWindow(q, new Date());
    const rows = await this.stats.buckets(window.from, window.to, window.bucketSeconds, { trunkId: q.trunkId, direction: q.direction });
    return toCallStats(rows, q, window);
  }
}
