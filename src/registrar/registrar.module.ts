/** REGISTER handling and contact bindings (many devices per user), plus SIP digest authentication of users. */
import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module';
import { RegistrarController } from './registrar.controller';
import { RegistrarService } from './registrar.service';
import { RegistrationMetrics } from './registration-metrics';
import { SipAuthenticator } from './sip-authenticator';

@Module({
  imports: [UsersModule],
  controllers: [RegistrarController],
  providers: [SipAuthenticator, RegistrarService, RegistrationMetrics],
  exports: [SipAuthenticator, RegistrarService],
})
export class RegistrarModule {}
