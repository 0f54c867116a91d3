/**
 * Tells the SIP edge which source addresses are trunks, so they get the trunk limits
 * (SIP_TRUNK_RATE_LIMIT_PER_SECOND, no per-source transaction or TCP connection cap) rather than
 * those of an unknown address: every enabled trunk's inboundAddresses, read at start, again at once
 * when a trunk changes through this node, and every minute for changes made through other nodes.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { SipServer } from '../signaling/sip-server';
import { TrunksService } from './trunks.service';

const CHECK_MS = 2_000;
const RELOAD_MS = 60_000;

@Injectable()
export class TrunkSources implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('trunk-sources');
  private timer?: NodeJS.Timeout;
  private loaded = { revision: -1, at: 0 };

  constructor(
    private readonly trunks: TrunksService,
    private readonly sip: SipServer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.roles.includes('sip')) return;
    await this.refresh();
    this.timer = setInterval(() => {
      if (this.trunks.revision !== this.loaded.revision || Date.now() - this.loaded.at >= RELOAD_MS) void this.refresh();
    }, CHECK_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    const revision = this.trunks.revision;
    try {
      const cidrs = (await this.trunks.all()).filter((t) => t.enabled).flatMap((t) => t.inboundAddresses);
      this.sip.setTrustedSources(cidrs);
      this.loaded = { revision, at: Date.now() };
    } catch (err) {
      // The previous list stays in force; the next check tries again.
      this.logger.warn({ err: (err as Error).message }, 'trunk addresses for the SIP limits not refreshed');
      this.loaded = { revision: this.loaded.revision, at: Date.now() };
    }
  }
}
