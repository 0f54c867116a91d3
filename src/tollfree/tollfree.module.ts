/** Toll-free numbers and their translation rules (being built: issue 4). */
import { Module } from '@nestjs/common';

@Module({})
export class TollFreeModule {}
