import { Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { pageQuery, PageQuery } from '../platform/pagination';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { roles } from './api-key.entity';
import { ApiKeysService } from './api-keys.service';
import { Roles } from './roles.decorator';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { apiKeyOut, createdApiKeyOut } from './api-keys.views';

const createKey = z.strictObject({ name: z.string().trim().min(1).max(200), role: z.enum(roles) });

@ApiTags('api-keys')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  /** The answer carries `secret`, shown only this once. */
  @Post()
  @ApiBodyOf(createKey)
  @ApiResult(createdApiKeyOut, { status: 201, description: 'The key, with its secret shown this once' })
  create(@ValidBody(createKey) body: z.infer<typeof createKey>) {
    return this.keys.create(body.name, body.role);
  }

  @Get()
  @ApiQueryOf(pageQuery)
  @ApiResult(pageOf(apiKeyOut))
  list(@ValidQuery(pageQuery) q: PageQuery) {
    return this.keys.list(q);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent('Revoked: the key is refused from now on')
  revoke(@ValidParam('id') id: string) {
    return this.keys.revoke(id);
  }
}
