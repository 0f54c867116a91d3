import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { RoutesService } from './routes.service';
import { createRoute, createTrunk, routeLookup, routeQuery, trunkQuery, updateTrunk } from './routing.schemas';
import { TrunksService } from './trunks.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { candidateOut, routeOut, trunkOut } from './routing.views';

@ApiTags('trunks')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/trunks')
export class TrunksController {
  constructor(private readonly trunks: TrunksService) {}

  /** `password` is write-only: stored encrypted, shown as `hasPassword`. */
  @Post()
  @ApiBodyOf(createTrunk)
  @ApiResult(trunkOut, { status: 201 })
  create(@ValidBody(createTrunk) body: z.infer<typeof createTrunk>) {
    return this.trunks.create(body);
  }

  @Get()
  @ApiQueryOf(trunkQuery)
  @ApiResult(pageOf(trunkOut))
  list(@ValidQuery(trunkQuery) q: z.infer<typeof trunkQuery>) {
    return this.trunks.list(q);
  }

  @Get(':id')
  @ApiResult(trunkOut)
  get(@ValidParam('id') id: string) {
    return this.trunks.get(id);
  }

  @Patch(':id')
  @ApiBodyOf(updateTrunk)
  @ApiResult(trunkOut)
  update(@ValidParam('id') id: string, @ValidBody(updateTrunk) body: z.infer<typeof updateTrunk>) {
    return this.trunks.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('id') id: string) {
    return this.trunks.remove(id);
  }
}

@ApiTags('routes')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/routes')
export class RoutesController {
  constructor(private readonly routes: RoutesService) {}

  @Post()
  @ApiBodyOf(createRoute)
  @ApiResult(routeOut, { status: 201 })
  create(@ValidBody(createRoute) body: z.infer<typeof createRoute>) {
    return this.routes.create(body);
  }

  @Get()
  @ApiQueryOf(routeQuery)
  @ApiResult(pageOf(routeOut))
  list(@ValidQuery(routeQuery) q: z.infer<typeof routeQuery>) {
    return this.routes.list(q);
  }

  /**
   * Dry run of least-cost routing: the trunks a call to `destination` would try, in order (longest
   * prefix, then priority, then a weighted order seeded by `callId`). Live channel counts are not
   * applied here.
   */
  @Get('lookup')
  @ApiQueryOf(routeLookup)
  @ApiResult(z.object({ data: z.array(candidateOut).describe('the trunks a call would try, in order') }))
  async lookup(@ValidQuery(routeLookup) q: z.infer<typeof routeLookup>) {
    const data = await this.routes.candidates(q.destination, q.callId);
    return { data: data.map(({ trunkEnabled: _enabled, ...r }) => r) };
  }

  @Get(':id')
  @ApiResult(routeOut)
  get(@ValidParam('id') id: string) {
    return this.routes.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('id') id: string) {
    return this.routes.remove(id);
  }
}
