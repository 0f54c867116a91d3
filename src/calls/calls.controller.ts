import { Controller, Delete, Get, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator';
import { notFound } from '../platform/problem';
import { ValidParam } from '../platform/validation';
import { CallsService } from './calls.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { callOut } from './calls.views';

@ApiTags('calls')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/calls')
export class CallsController {
  constructor(private readonly calls: CallsService) {}

  /** Calls in progress on this node (ringing or answered), with their media packet counts. */
  @Get()
  @ApiResult(pageOf(callOut))
  async list() {
    await this.calls.refreshMediaStats();
    return { data: this.calls.list(), nextCursor: null };
  }

  @Get(':id')
  @ApiResult(callOut)
  async get(@ValidParam('id') id: string) {
    await this.calls.refreshMediaStats(id);
    const call = this.calls.get(id);
    if (!call) throw notFound('call', id);
    return call;
  }

  /** Hangs the call up: BYE to both sides (a refusal to the caller while ringing); the CDR says `gateway`. */
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent('BYE sent to both sides')
  hangUp(@ValidParam('id') id: string): void {
    if (!this.calls.hangUp(id)) throw notFound('call', id);
  }
}
