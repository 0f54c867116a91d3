/** Every query of the trunks table. Passwords stay sealed here; TrunksService seals and opens them. */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, LessThan, Repository } from 'typeorm';
import { Trunk } from './trunk.entity';

export interface TrunkFilter {
  after?: string;
  enabled?: boolean;
  limit: number;
}

@Injectable()
export class TrunksRepository {
  constructor(@InjectRepository(Trunk) private readonly trunks: Repository<Trunk>) {}

  async insert(trunk: Omit<Trunk, 'createdAt' | 'updatedAt'>): Promise<void> {
    await this.trunks.save(this.trunks.create(trunk));
  }

  /** Up to `limit` trunks after the cursor, newest first. */
  list(f: TrunkFilter): Promise<Trunk[]> {
    const where: FindOptionsWhere<Trunk> = {};
    if (f.after) where.id = LessThan(f.after);
    if (f.enabled !== undefined) where.enabled = f.enabled;
    return this.trunks.find({ where, order: { id: 'DESC' }, take: f.limit });
  }

  all(): Promise<Trunk[]> {
    return this.trunks.find();
  }

  async find(id: string): Promise<Trunk | undefined> {
    return (await this.trunks.findOneBy({ id })) ?? undefined;
  }

  exists(id: string): Promise<boolean> {
    return this.trunks.existsBy({ id });
  }

  nameTaken(name: string): Promise<boolean> {
    return this.trunks.existsBy({ name });
  }

  async update(id: string, changes: Partial<Trunk>): Promise<void> {
    await this.trunks.update({ id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.trunks.delete({ id });
  }
}
