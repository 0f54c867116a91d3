/** Routing: trunks and least-cost routes (the B2BUA asks it where a call goes). */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Route } from './route.entity';
import { RoutesController, TrunksController } from './routing.controller';
import { RoutesRepository } from './routes.repository';
import { RoutesService } from './routes.service';
import { TrunkSources } from './trunk-sources';
import { Trunk } from './trunk.entity';
import { TrunksRepository } from './trunks.repository';
import { TrunksService } from './trunks.service';

@Module({
  imports: [TypeOrmModule.forFeature([Trunk, Route])],
  controllers: [TrunksController, RoutesController],
  providers: [TrunksRepository, RoutesRepository, TrunksService, RoutesService, TrunkSources],
  exports: [TrunksService, RoutesService],
})
export class RoutingModule {}
