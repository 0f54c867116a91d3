/**
 * `node dist/bench/http/profile-summary.js FILE.cpuprofile [SECONDS]`: the share of a V8 CPU
 * profile's samples by part of the HTTP path (TypeORM + pg, Express, logging, Node core, ...),
 * over the last SECONDS of the profile (default 10: the measured case of a bench:http run, which
 * stops the gateway right after it). Prints a Markdown table. Written by hand because the grouping
 * is what docs/performance.md's table needs, and it is a few regular expressions over the profile's
 * call frames. Imports only node:fs.
 *
 * V8 samples by wall time: a sample taken while the thread waits in a syscall (or is preempted in
 * one) counts for that syscall, so "socket writes" overstates their CPU on a loaded machine.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
}
interface Profile {
  nodes: { id: number; callFrame: CallFrame }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const groups: [string, (f: CallFrame) => boolean][] = [
  ['TypeORM + pg (queries)', (f) => /typeorm|\/pg\/|pg-protocol|pg-pool|postgres-|pg-types/.test(f.url)],
  ['logging (pino-http, pino, redact, stdout writes)', (f) => /pino|redact|sonic-boom/.test(f.url) || f.functionName === 'writeString'],
  [
    'Express (router, body-parser, response helpers)',
    (f) => /node_modules\/(express|router|body-parser|path-to-regexp|finalhandler|send|etag|fresh|parseurl|content-type|type-is|on-finished|qs|raw-body|accepts|negotiator|vary|@nestjs\/platform-express)\//.test(f.url),
  ],
  ['Fastify', (f) => /fastify|find-my-way|middie|avvio/.test(f.url)],
  ['Nest core (guards, pipes, handler)', (f) => /@nestjs\/(core|common)|reflect-metadata|rxjs/.test(f.url)],
  ['API-key guard (src/auth, SHA-256)', (f) => /dist\/src\/auth/.test(f.url) || (f.functionName === 'Hash' && /crypto/.test(f.url))],
  ['validation (zod)', (f) => /zod/.test(f.url)],
  ['gateway code (controllers, views)', (f) => /dist\/src/.test(f.url)],
  ['socket writes (syscalls; sampled by wall time)', (f) => ['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String'].includes(f.functionName)],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
  ['idle / program', (f) => f.functionName === '(idle)' || f.functionName === '(program)'],
  ['Node core (HTTP parser, streams, promises)', (f) => /^node:|^internal/.test(f.url) || f.functionName === 'runMicrotasks' || f.functionName === '(root)'],
];

function main(): void {
  const [file, seconds = '10'] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [SECONDS]');
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const from = p.endTime - Number(seconds) * 1e6;
  const byGroup = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i];
    if (t < from) return;
    total += p.timeDeltas[i];
    const frame = frames.get(id)!;
    const group = groups.find(([, match]) => match(frame))?.[0] ?? 'other';
    byGroup.set(group, (byGroup.get(group) ?? 0) + p.timeDeltas[i]);
  });
  console.log(`| part of the path (last ${seconds} s, ${(total / 1e6).toFixed(1)} s of samples) | share |`);
  console.log('| --- | --- |');
  for (const [group, us] of [...byGroup].sort((a, b) => b[1] - a[1])) console.log(`| ${group} | ${((100 * us) / total).toFixed(1)} % |`);
}

main();
