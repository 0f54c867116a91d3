import { Controller, Get, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { csvBody } from '../platform/csv-import';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { createRateDeck, rateDeckQuery, RateDecksService, rateQuery } from './rate-decks.service';
import { ApiResult, pageOf } from '../platform/openapi';
import { importedOut, rateDeckOut, rateOut } from './billing.views';

@ApiTags('rate decks')
@ApiBearerAuth()
@Controller('v1/rate-decks')
export class RateDecksController {
  constructor(private readonly decks: RateDecksService) {}

  @Post()
  @Roles('operator')
  @ApiBodyOf(createRateDeck)
  @ApiResult(rateDeckOut, { status: 201 })
  create(@ValidBody(createRateDeck) body: z.infer<typeof createRateDeck>) {
    return this.decks.create(body);
  }

  @Get()
  @Roles('operator', 'billing')
  @ApiQueryOf(rateDeckQuery)
  @ApiResult(pageOf(rateDeckOut))
  list(@ValidQuery(rateDeckQuery) q: z.infer<typeof rateDeckQuery>) {
    return this.decks.list(q);
  }

  @Get(':id')
  @Roles('operator', 'billing')
  @ApiResult(rateDeckOut)
  get(@ValidParam('id') id: string) {
    return this.decks.get(id);
  }

  /** The deck's rates, paged (addition to API.md). */
  @Get(':id/rates')
  @Roles('operator', 'billing')
  @ApiQueryOf(rateQuery)
  @ApiResult(pageOf(rateOut))
  rates(@ValidParam('id') id: string, @ValidQuery(rateQuery) q: z.infer<typeof rateQuery>) {
    return this.decks.rates(id, q);
  }

  /** `text/csv`: prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom[,effectiveTo]; all or nothing. */
  @Post(':id/rates')
  @Roles('operator')
  @ApiConsumes('text/csv')
  @ApiBody({ schema: { type: 'string', example: 'prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom\n44,United Kingdom,0.012000,0,30,6,\n' } })
  @ApiResult(importedOut, { status: 201 })
  importRates(@ValidParam('id') id: string, @Req() req: FastifyRequest) {
    return this.decks.importCsv(id, csvBody(req));
  }
}
