import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator';
import { ValidParam } from '../platform/validation';
import { UsersService } from '../users/users.service';
import { RegistrarService } from './registrar.service';
import { ApiResult, pageOf } from '../platform/openapi';
import { registrationOut } from '../users/users.views';

@ApiTags('users')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/users')
export class RegistrarController {
  constructor(
    private readonly registrar: RegistrarService,
    private readonly users: UsersService,
  ) {}

  /** The user's current contact bindings (one per registered device). */
  @Get(':id/registrations')
  @ApiResult(pageOf(registrationOut))
  async registrations(@ValidParam('id') id: string) {
    await this.users.get(id);
    const now = Date.now();
    const bindings = await this.registrar.bindings(id);
    return {
      data: bindings.map((b) => ({
        contact: b.contact,
        uri: b.uri,
        sourceAddress: b.source.address,
        sourcePort: b.source.port,
        transport: b.source.transport.toLowerCase(),
        // WebSocket bindings: the node and connection holding the socket (no other node can reach it).
        node: b.node ?? null,
        connection: b.connection ?? null,
        // Through a SIP edge: its Path (calls go back through it) and the device's address as it saw it.
        path: b.path ?? [],
        receivedAddress: b.received?.address ?? null,
        receivedPort: b.received?.port ?? null,
        expiresAt: new Date(b.expiresAt).toISOString(),
        expiresIn: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
        q: b.q,
        userAgent: b.userAgent ?? null,
        callId: b.callId,
        registeredAt: new Date(b.registeredAt).toISOString(),
      })),
      nextCursor: null,
    };
  }
}
