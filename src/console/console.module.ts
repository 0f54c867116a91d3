/** The operator console (issue 16): its page, login sessions and the few reads its dashboard needs. Wiring only. */
import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { BillingModule } from '../billing/billing.module';
import { CallsModule } from '../calls/calls.module';
import { RegistrarModule } from '../registrar/registrar.module';
import { ConsoleApiController } from './console-api.controller';
import { ConsolePageController } from './console-page.controller';

@Module({
  imports: [AuthModule, BillingModule, CallsModule, RegistrarModule],
  controllers: [ConsolePageController, ConsoleApiController],
})
export class ConsoleModule {}
