/**
 * Toll-free numbers and their translation rules. Exports TollFreeService, whose `translateNumber`
 * the B2BUA calls for each call to a toll-free number. Depends on BillingModule (accounts) only.
 */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BillingModule } from '../billing/billing.module';
import { TollFreeChanges } from './tollfree-changes';
import { TollFreeController, TollFreeRangesController } from './tollfree.controller';
import { TollFreeNumber, TollFreeRange, TollFreeVersion } from './tollfree.entity';
import { TollFreeRepository } from './tollfree.repository';
import { TollFreeService } from './tollfree.service';

@Module({
  imports: [TypeOrmModule.forFeature([TollFreeNumber, TollFreeVersion, TollFreeRange]), BillingModule],
  controllers: [TollFreeController, TollFreeRangesController],
  providers: [TollFreeChanges, TollFreeRepository, TollFreeService],
  exports: [TollFreeService],
})
export class TollFreeModule {}
