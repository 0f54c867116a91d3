import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { accountQuery, AccountsService, createAccount, updateAccount } from './accounts.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { accountOut } from './billing.views';

@ApiTags('accounts')
@ApiBearerAuth()
@Controller('v1/accounts')
export class AccountsController {
  constructor(private readonly accounts: AccountsService) {}

  @Post()
  @Roles('operator')
  @ApiBodyOf(createAccount)
  @ApiResult(accountOut, { status: 201 })
  create(@ValidBody(createAccount) body: z.infer<typeof createAccount>) {
    return this.accounts.create(body);
  }

  @Get()
  @Roles('operator', 'billing')
  @ApiQueryOf(accountQuery)
  @ApiResult(pageOf(accountOut))
  list(@ValidQuery(accountQuery) q: z.infer<typeof accountQuery>) {
    return this.accounts.list(q);
  }

  @Get(':id')
  @Roles('operator', 'billing')
  @ApiResult(accountOut)
  get(@ValidParam('id') id: string) {
    return this.accounts.get(id);
  }

  @Patch(':id')
  @Roles('operator')
  @ApiBodyOf(updateAccount)
  @ApiResult(accountOut)
  update(@ValidParam('id') id: string, @ValidBody(updateAccount) body: z.infer<typeof updateAccount>) {
    return this.accounts.update(id, body);
  }

  @Delete(':id')
  @Roles('operator')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('id') id: string) {
    return this.accounts.remove(id);
  }
}
