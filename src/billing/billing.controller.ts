/**
 * The billing REST API: top-ups, ledger and balance, rating quotes, CDR reads and export, usage.
 * There is deliberately no endpoint that creates a CDR: CDRs come from calls (CdrsService.record).
 */
import { Controller, Get, Headers, HttpCode, Logger, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { stringify } from 'csv-stringify';
import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { spreadsheetSafe } from '../platform/inert-text';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { CDR_COLUMNS, cdrQuery, CdrsService, exportQuery, usageQuery } from './cdrs.service';
import { ledgerQuery, LedgerService, topUpInput } from './ledger.service';
import { quoteInput, RateDecksService } from './rate-decks.service';
import { ApiResult, pageOf } from '../platform/openapi';
import { balanceOut, cdrOut, ledgerEntryOut, quoteOut, topUpOut, usageOut } from './billing.views';

@ApiTags('billing')
@ApiBearerAuth()
@Roles('billing')
@Controller('v1')
export class BillingController {
  private readonly log = new Logger('billing');

  constructor(
    private readonly ledger: LedgerService,
    private readonly cdrs: CdrsService,
    private readonly decks: RateDecksService,
  ) {}

  /** Credits the balance. Same Idempotency-Key and body: the first answer again; another body: 422. */
  @Post('accounts/:id/topups')
  @HttpCode(201)
  @ApiBodyOf(topUpInput)
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResult(topUpOut, { status: 201, description: 'Credited (the first answer again, with Idempotent-Replayed: true, for a repeated Idempotency-Key)' })
  async topUp(
    @ValidParam('id') id: string,
    @ValidBody(topUpInput) body: z.infer<typeof topUpInput>,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const { replayed, topup } = await this.ledger.topUp(id, body, key);
    if (replayed) void res.header('Idempotent-Replayed', 'true');
    return topup;
  }

  @Get('accounts/:id/ledger')
  @ApiQueryOf(ledgerQuery)
  @ApiResult(pageOf(ledgerEntryOut))
  ledgerOf(@ValidParam('id') id: string, @ValidQuery(ledgerQuery) q: z.infer<typeof ledgerQuery>) {
    return this.ledger.list(id, q);
  }

  /** Balance beside the sum of the ledger (addition to API.md). */
  @Get('accounts/:id/balance')
  @ApiResult(balanceOut)
  balance(@ValidParam('id') id: string) {
    return this.ledger.balance(id);
  }

  @Post('rating/quote')
  @Roles('operator', 'billing')
  @HttpCode(200)
  @ApiBodyOf(quoteInput)
  @ApiResult(quoteOut)
  quote(@ValidBody(quoteInput) body: z.infer<typeof quoteInput>) {
    return this.decks.quote(body);
  }

  @Get('cdrs')
  @ApiQueryOf(cdrQuery)
  @ApiResult(pageOf(cdrOut))
  list(@ValidQuery(cdrQuery) q: z.infer<typeof cdrQuery>) {
    return this.cdrs.list(q);
  }

  /**
   * Streamed in keyset batches with backpressure: constant memory whatever the number of CDRs.
   * Every text cell goes through spreadsheetSafe: `dialed` and `sipReason` are what a caller or a
   * far end wrote, and must not reach a billing clerk's spreadsheet as a live formula.
   */
  @Get('cdrs/export')
  @ApiQueryOf(exportQuery)
  @ApiProduces('text/csv')
  @ApiResponse({ status: 200, description: 'Every matching CDR as CSV (newest first), streamed; the columns are the CDR fields', content: { 'text/csv': { schema: { type: 'string' } } } })
  async export(@ValidQuery(exportQuery) q: z.infer<typeof exportQuery>, @Res() reply: FastifyReply): Promise<void> {
    // Written to Node's response with backpressure, so Fastify lets go of the answer; the headers it
    // already holds (X-Request-Id) go out with ours.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="cdrs.csv"' });
    await pipeline(this.cdrs.stream(q), stringify({ header: true, columns: [...CDR_COLUMNS], cast: { string: spreadsheetSafe } }), res).catch((err: Error) => {
      // Headers are gone already: all that is left is to cut the download short, visibly.
      this.log.error({ err: err.message }, 'CDR export aborted');
      res.destroy();
    });
  }

  @Get('cdrs/:id')
  @ApiResult(cdrOut)
  get(@ValidParam('id') id: string) {
    return this.cdrs.get(id);
  }

  @Get('usage')
  @ApiQueryOf(usageQuery)
  @ApiResult(usageOut)
  usage(@ValidQuery(usageQuery) q: z.infer<typeof usageQuery>) {
    return this.cdrs.usage(q);
  }
}
