/** Wiring only: which modules make up the gateway. */
import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { BillingModule } from './billing/billing.module';
import { CallsModule } from './calls/calls.module';
import { ConsoleModule } from './console/console.module';
import { NumbersModule } from './numbers/numbers.module';
import { AppConfig } from './platform/config';
import { PhoneModule } from './phone/phone.module';
import { PlatformModule } from './platform/platform.module';
import { RegistrarModule } from './registrar/registrar.module';
import { RoutingModule } from './routing/routing.module';
import { SignalingModule } from './signaling/signaling.module';
import { TollFreeModule } from './tollfree/tollfree.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.register(config), AuthModule, BillingModule, UsersModule, NumbersModule, RoutingModule, TollFreeModule, SignalingModule, RegistrarModule, CallsModule, PhoneModule, ConsoleModule],
    };
  }
}
