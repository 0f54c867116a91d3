import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { ApiBodyOf, ApiQueryOf, ValidBody, ValidParam, ValidQuery } from '../platform/validation';
import { createUser, updateUser, userQuery, UsersService } from './users.service';
import { ApiNoContent, ApiResult, pageOf } from '../platform/openapi';
import { userOut } from './users.views';

@ApiTags('users')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** `password` is write-only: it is stored as digest HA1 hashes and never returned. */
  @Post()
  @ApiBodyOf(createUser)
  @ApiResult(userOut, { status: 201 })
  create(@ValidBody(createUser) body: z.infer<typeof createUser>) {
    return this.users.create(body);
  }

  @Get()
  @ApiQueryOf(userQuery)
  @ApiResult(pageOf(userOut))
  list(@ValidQuery(userQuery) q: z.infer<typeof userQuery>) {
    return this.users.list(q);
  }

  @Get(':id')
  @ApiResult(userOut)
  get(@ValidParam('id') id: string) {
    return this.users.get(id);
  }

  @Patch(':id')
  @ApiBodyOf(updateUser)
  @ApiResult(userOut)
  update(@ValidParam('id') id: string, @ValidBody(updateUser) body: z.infer<typeof updateUser>) {
    return this.users.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContent()
  remove(@ValidParam('id') id: string) {
    return this.users.remove(id);
  }
}
