/**
 * Whether this node is draining: set the moment main.ts receives SIGTERM/SIGINT, before anything
 * closes, and read by /health/ready (503 `{status:'draining'}`, so a load balancer takes the node
 * out at once) and by the call flows (new INVITEs get 503 with Retry-After and a `rejected` CDR).
 * It only holds the flag; what draining means is decided by its readers. Imports nothing.
 */
import { Injectable } from '@nestjs/common';

@Injectable()
export class NodeLifecycle {
  private drainingSince?: Date;

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  /** When the drain started, or undefined while serving. */
  get since(): Date | undefined {
    return this.drainingSince;
  }

  /** Idempotent: the first call wins (a shutdown hook may call it again after main.ts did). */
  startDraining(): void {
    this.drainingSince ??= new Date();
  }
}
