/** The B2BUA: call flows joining users, trunks, media and billing (docs/calls.md). */
import { Module } from '@nestjs/common';
import { BillingModule } from '../billing/billing.module';
import { NumbersModule } from '../numbers/numbers.module';
import { RegistrarModule } from '../registrar/registrar.module';
import { RoutingModule } from '../routing/routing.module';
import { TollFreeModule } from '../tollfree/tollfree.module';
import { UsersModule } from '../users/users.module';
import { CallHeartbeat } from './call-heartbeat';
import { CallsController } from './calls.controller';
import { CallsService } from './calls.service';
import { LostCallsSweep } from './lost-calls-sweep';
import { mediaEngineProvider } from './media-relay.provider';

@Module({
  imports: [BillingModule, NumbersModule, RegistrarModule, RoutingModule, TollFreeModule, UsersModule],
  controllers: [CallsController],
  providers: [mediaEngineProvider, CallHeartbeat, LostCallsSweep, CallsService],
  exports: [CallsService],
})
export class CallsModule {}
