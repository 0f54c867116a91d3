/** REST for toll-free numbers (`/v1/tollfree`) and the operator's number ranges (`/v1/tollfree-ranges`). */
import { Controller, Delete, Get, HttpCode, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/roles.decorator';
import { csvBody } from '../platform/csv-import';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { createEntry, entryQuery, rangeInput, replaceEntry, translateInput, versionQuery } from './tollfree.schemas';
import { TollFreeService } from './tollfree.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { importedOut } from '../billing/billing.views';
import { dryRunOut, entryOut, rangeOut, RULES_DESCRIPTION, versionOut } from './tollfree.views';

const e164Param = z.string().min(1).max(32);
const who = (req: AuthenticatedRequest): string => req.principal?.keyId ?? 'unknown';

@ApiTags('tollfree')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/tollfree')
export class TollFreeController {
  constructor(private readonly tollfree: TollFreeService) {}

  @Post()
  @ApiOperation({
    summary: 'Create a toll-free number with its rules',
    description:
      'A malformed body is a 400; an entry that breaks a rule (targets, percentages, time ranges, time zone, account) is refused whole with a 422 naming every problem. ' +
      RULES_DESCRIPTION +
      ' (docs/tollfree.md)',
  })
  @ApiBodyOf(createEntry)
  @ApiResult(entryOut, { status: 201 })
  create(@ValidBody(createEntry) body: z.infer<typeof createEntry>, @Req() req: AuthenticatedRequest) {
    return this.tollfree.create(body, who(req));
  }

  @Post('import')
  @ApiOperation({ summary: 'Import numbers with their default target', description: 'text/csv with the header e164,accountId,timezone,defaultTarget; all rows or none; 422 names every bad row.' })
  @ApiConsumes('text/csv')
  @ApiBody({ schema: { type: 'string', example: 'e164,accountId,timezone,defaultTarget\n+18005550100,0190a000-0000-7000-8000-000000000000,America/New_York,+12125550100\n' } })
  @ApiResult(importedOut, { status: 201 })
  importCsv(@Req() req: AuthenticatedRequest) {
    return this.tollfree.importCsv(csvBody(req), who(req));
  }

  @Get()
  @ApiQueryOf(entryQuery)
  @ApiResult(pageOf(entryOut))
  list(@ValidQuery(entryQuery) q: z.infer<typeof entryQuery>) {
    return this.tollfree.list(q);
  }

  @Get(':e164')
  @ApiResult(entryOut)
  get(@ValidParam('e164', e164Param) e164: string) {
    return this.tollfree.get(e164);
  }

  @Put(':e164')
  @ApiOperation({ summary: 'Replace the entry (rules included)', description: 'Rules given with an id keep it. Each change is kept as a version.' })
  @ApiBodyOf(replaceEntry)
  @ApiResult(entryOut)
  replace(@ValidParam('e164', e164Param) e164: string, @ValidBody(replaceEntry) body: z.infer<typeof replaceEntry>, @Req() req: AuthenticatedRequest) {
    return this.tollfree.replace(e164, body, who(req));
  }

  @Delete(':e164')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('e164', e164Param) e164: string, @Req() req: AuthenticatedRequest) {
    return this.tollfree.remove(e164, who(req));
  }

  @Get(':e164/versions')
  @ApiOperation({ summary: 'Every version of the entry (who, when, the whole entry), newest first; kept after a delete' })
  @ApiQueryOf(versionQuery)
  @ApiResult(pageOf(versionOut))
  versions(@ValidParam('e164', e164Param) e164: string, @ValidQuery(versionQuery) q: z.infer<typeof versionQuery>) {
    return this.tollfree.versions(e164, q);
  }

  @Post(':e164/translate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Dry run: the routing a call would get',
    description:
      'Answers { target, ruleId, ruleName } (ruleId and ruleName null when the default target applied) or { blocked: true, reason, sipCode, ruleId, ruleName }, with the version used. ' +
      'Without `at`, the entry in force now. With `at` (past or future), the version in force at that instant, so an operator can see the routing that applied to a past call. ' +
      '`caller` null, absent or "anonymous" is a withheld caller; `callId` picks the share of a percentage split (the same id always lands on the same target).',
  })
  @ApiBodyOf(translateInput)
  @ApiResult(dryRunOut)
  translate(@ValidParam('e164', e164Param) e164: string, @ValidBody(translateInput) body: z.infer<typeof translateInput>) {
    return this.tollfree.dryRun(e164, body);
  }
}

@ApiTags('tollfree')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/tollfree-ranges')
export class TollFreeRangesController {
  constructor(private readonly tollfree: TollFreeService) {}

  @Post()
  @ApiOperation({ summary: 'Add an operator number range', description: 'kind tollFree: numbers under the prefix count as toll-free beside those libphonenumber knows; kind payphone: callers under it have caller type payphone.' })
  @ApiBodyOf(rangeInput)
  @ApiResult(rangeOut, { status: 201 })
  create(@ValidBody(rangeInput) body: z.infer<typeof rangeInput>) {
    return this.tollfree.addRange(body);
  }

  @Get()
  @ApiQueryOf(versionQuery)
  @ApiResult(pageOf(rangeOut))
  list(@ValidQuery(versionQuery) q: z.infer<typeof versionQuery>) {
    return this.tollfree.listRanges(q);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('id') id: string) {
    return this.tollfree.removeRange(id);
  }
}
