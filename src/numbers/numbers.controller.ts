import { Controller, Delete, Get, HttpCode, Patch, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { csvBody } from '../platform/csv-import';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { createNumber, numberQuery, updateNumber } from './numbers.schemas';
import { NumbersService } from './numbers.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { importedOut } from '../billing/billing.views';
import { numberOut } from './numbers.views';

const e164Param = z.string().min(1).max(32);

@ApiTags('numbers')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/numbers')
export class NumbersController {
  constructor(private readonly numbers: NumbersService) {}

  @Post()
  @ApiBodyOf(createNumber)
  @ApiResult(numberOut, { status: 201 })
  create(@ValidBody(createNumber) body: z.infer<typeof createNumber>) {
    return this.numbers.create(body);
  }

  /** `text/csv` with the header `e164[,monthlyFee]`; all rows or none; 422 lists every bad row. */
  @Post('import')
  @ApiConsumes('text/csv')
  @ApiBody({ schema: { type: 'string', example: 'e164,monthlyFee\n+81312345678,1.50\n' } })
  @ApiResult(importedOut, { status: 201 })
  importCsv(@Req() req: FastifyRequest) {
    return this.numbers.importCsv(csvBody(req));
  }

  @Get()
  @ApiQueryOf(numberQuery)
  @ApiResult(pageOf(numberOut))
  list(@ValidQuery(numberQuery) q: z.infer<typeof numberQuery>) {
    return this.numbers.list(q);
  }

  @Get(':e164')
  @ApiResult(numberOut)
  get(@ValidParam('e164', e164Param) e164: string) {
    return this.numbers.get(e164);
  }

  /** `userId` assigns the number; `userId: null` releases it into quarantine. */
  @Patch(':e164')
  @ApiBodyOf(updateNumber)
  @ApiResult(numberOut)
  update(@ValidParam('e164', e164Param) e164: string, @ValidBody(updateNumber) body: z.infer<typeof updateNumber>) {
    return this.numbers.update(e164, body);
  }

  @Delete(':e164')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('e164', e164Param) e164: string) {
    return this.numbers.remove(e164);
  }
}
