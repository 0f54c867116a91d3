import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { RoutesService } from './routes.service';
import { createRoute, createTrunk, routeLookup, routeQuery, trunkQuery, updateTrunk } from './routing.schemas';
import { TrunksService } from './trunks.service';

@ApiTags('trunks')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/trunks')
export class TrunksController {
  constructor(private readonly trunks: TrunksService) {}

  /** `password` is write-only: stored encrypted, shown as `hasPassword`. */
  @Post()
  @ApiBodyOf(createTrunk)
  create(@ValidBody(createTrunk) body: z.infer<typeof createTrunk>) {
    return this.trunks.create(body);
  }

  @Get()
  @ApiQueryOf(trunkQuery)
  list(@ValidQuery(trunkQuery) q: z.infer<typeof trunkQuery>) {
    return this.trunks.list(q);
  }

  @Get(':id')
  get(@ValidParam('id') id: string) {
    return this.trunks.get(id);
  }

  @Patch(':id')
  @ApiBodyOf(updateTrunk)
  update(@ValidParam('id') id: string, @ValidBody(updateTrunk) body: z.infer<typeof updateTrunk>) {
    return this.trunks.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
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
  create(@ValidBody(createRoute) body: z.infer<typeof createRoute>) {
    return this.routes.create(body);
  }

  @Get()
  @ApiQueryOf(routeQuery)
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
  async lookup(@ValidQuery(routeLookup) q: z.infer<typeof routeLookup>) {
    const data = await this.routes.candidates(q.destination, q.callId);
    return { data: data.map(({ trunkEnabled: _enabled, ...r }) => r) };
  }

  @Get(':id')
  get(@ValidParam('id') id: string) {
    return this.routes.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@ValidParam('id') id: string) {
    return this.routes.remove(id);
  }
}
