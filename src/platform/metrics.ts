/**
 * Prometheus metrics: one registry per application (so two gateways in one test process do not
 * share counters), the process's default metrics, and `GET /metrics` in the text exposition format.
 * Modules register their own metrics on the injected registry (see calls/call-metrics.ts).
 * `/metrics` needs no API key, as scrapers expect; who may read it (METRICS_ALLOW, by default
 * loopback and private networks, and optionally METRICS_BEARER_TOKEN) is checked in front of it
 * (endpoint-access.ts).
 */
import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Public } from '../auth/roles.decorator';

export const METRICS = Symbol('METRICS');

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  return registry;
}

@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS) private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
