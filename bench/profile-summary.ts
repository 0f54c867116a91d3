/**
 * `node dist/bench/profile-summary.js FILE_OR_DIR... [--top N] [--skip-ms MS] [--json OUT]`: summarises V8 profiles
 * written by `node --cpu-prof` (.cpuprofile) and `node --heap-prof` (.heapprofile), e.g. the
 * gateway's under `bench:calls` (BENCH_CALLS_NODE_ARGS). Prints, per kind, the top functions and
 * the top modules (a package under node_modules, a file of ours, or node's internals) by self CPU
 * time or by bytes allocated, with their share. Written by hand because the only tools that read
 * these files are GUIs (DevTools, speedscope); the formats are V8's own (ProfileNode trees with
 * samples and time deltas; SamplingHeapProfile trees with self sizes).
 * Imports nothing from src/.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

const cwd = process.cwd();

/** node_modules/<pkg> (scoped too), a path of ours relative to the repo, or the bucket V8 gives. */
export function moduleOf(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  if (!url) {
    if (frame.functionName === '(garbage collector)') return '(garbage collector)';
    if (frame.functionName === '(idle)' || frame.functionName === '(program)') return frame.functionName;
    return '(native)';
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 13).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  return relative(cwd, url);
}

function functionOf(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  return `${name} ${moduleOf(frame)}:${frame.lineNumber + 1}`;
}

function top(map: Map<string, number>, total: number, n: number): Row[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, v]) => ({ name, ms: +v.toFixed(1), share: +((v / total) * 100).toFixed(1) }));
}

/** `skipMs`: samples in the first skipMs of each profile are left out (the process's start-up). */
export function summariseCpu(profiles: CpuProfile[], n = 20, skipMs = 0) {
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((x) => [x.id, x]));
    const selfUs = new Map<number, number>();
    // timeDeltas[i] is the time before sample i; the sample's node ran for the next delta.
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i];
      const dt = p.timeDeltas[i + 1] ?? 0;
      if (t - p.startTime < skipMs * 1000) continue;
      selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
    }
    for (const [id, us] of selfUs) {
      const frame = nodes.get(id)!.callFrame;
      const ms = us / 1000;
      if (frame.functionName === '(idle)') {
        idle += ms;
        continue;
      }
      total += ms;
      const f = functionOf(frame);
      const m = moduleOf(frame);
      byFunction.set(f, (byFunction.get(f) ?? 0) + ms);
      byModule.set(m, (byModule.get(m) ?? 0) + ms);
    }
  }
  const wallMs = profiles.reduce((t, p) => t + (p.endTime - p.startTime) / 1000 - skipMs, 0);
  return { wallMs: +wallMs.toFixed(0), busyMs: +total.toFixed(0), idleMs: +idle.toFixed(0), functions: top(byFunction, total, n), modules: top(byModule, total, n) };
}

export function summariseHeap(profiles: { head: HeapNode }[], n = 20) {
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize) {
      const kib = node.selfSize / 1024;
      total += kib;
      const f = functionOf(node.callFrame);
      const m = moduleOf(node.callFrame);
      byFunction.set(f, (byFunction.get(f) ?? 0) + kib);
      byModule.set(m, (byModule.get(m) ?? 0) + kib);
    }
    for (const c of node.children) walk(c);
  };
  for (const p of profiles) walk(p.head);
  const rename = (rows: Row[]) => rows.map((r) => ({ name: r.name, kib: r.ms, share: r.share }));
  return { totalKiB: +total.toFixed(0), functions: rename(top(byFunction, total, n)), modules: rename(top(byModule, total, n)) };
}

function filesOf(args: string[], ext: string): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!existsSync(a)) continue;
    if (statSync(a).isDirectory()) out.push(...readdirSync(a).filter((f) => f.endsWith(ext)).map((f) => join(a, f)));
    else if (a.endsWith(ext)) out.push(a);
  }
  return out;
}

const table = (rows: { name: string; share: number }[], unit: string, key: 'ms' | 'kib') =>
  [`| ${unit === 'ms' ? 'self ms' : 'KiB allocated'} | share | function or module |`, '| ---: | ---: | --- |', ...rows.map((r) => `| ${(r as unknown as Record<string, number>)[key]} | ${r.share} % | \`${r.name}\` |`)].join('\n');

if (require.main === module) {
  const args = process.argv.slice(2);
  const nAt = args.indexOf('--top');
  const n = nAt >= 0 ? Number(args.splice(nAt, 2)[1]) : 20;
  const jsonAt = args.indexOf('--json');
  const jsonOut = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : undefined;
  const skipAt = args.indexOf('--skip-ms');
  const skipMs = skipAt >= 0 ? Number(args.splice(skipAt, 2)[1]) : 0;
  const cpuFiles = filesOf(args, '.cpuprofile');
  const heapFiles = filesOf(args, '.heapprofile');
  const result: Record<string, unknown> = {};
  if (cpuFiles.length) {
    const s = summariseCpu(cpuFiles.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile), n, skipMs);
    result.cpu = s;
    console.log(`## CPU (${cpuFiles.length} profile(s)): ${s.busyMs} ms busy, ${s.idleMs} ms idle over ${s.wallMs} ms\n`);
    console.log('### Top functions by self time\n');
    console.log(table(s.functions, 'ms', 'ms'));
    console.log('\n### Top modules by self time\n');
    console.log(table(s.modules, 'ms', 'ms'));
  }
  if (heapFiles.length) {
    const s = summariseHeap(heapFiles.map((f) => JSON.parse(readFileSync(f, 'utf8')) as { head: HeapNode }), n);
    result.heap = s;
    console.log(`\n## Heap (sampled allocations still live at exit, ${heapFiles.length} profile(s)): ${s.totalKiB} KiB\n`);
    console.log('### Top allocating functions\n');
    console.log(table(s.functions, 'kib', 'kib'));
    console.log('\n### Top allocating modules\n');
    console.log(table(s.modules, 'kib', 'kib'));
  }
  if (!cpuFiles.length && !heapFiles.length) {
    console.error('usage: node dist/bench/profile-summary.js FILE_OR_DIR... [--top N] [--skip-ms MS] [--json OUT]');
    process.exit(1);
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2) + '\n');
}
