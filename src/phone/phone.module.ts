/** The browser softphone page and its TURN credentials endpoint (issue 14). Wiring only. */
import { Logger, Module, OnModuleInit, Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { UsersModule } from '../users/users.module';
import { PhoneController } from './phone.controller';
import { PhoneLoginService } from './phone-login.service';

@Module({
  imports: [UsersModule],
  controllers: [PhoneController],
  providers: [PhoneLoginService],
})
export class PhoneModule implements OnModuleInit {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    const ignored = this.config.turn.secret ? [] : this.config.turn.urls.filter((u) => /^turns?:/.test(u));
    if (ignored.length) new Logger('phone').warn({ ignored }, 'TURN_URLS lists TURN servers but TURN_SECRET is not set: they are not handed to browsers (they need credentials)');
  }
}
