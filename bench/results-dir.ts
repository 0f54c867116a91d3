/**
 * Where benchmark results go: `bench/results/` of the repository, whether a bench runs from
 * source (tsx, in bench/) or compiled (node, in dist/bench/). Imports nothing else.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = up;
  }
  return dir;
}

export function resultsDir(): string {
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  return dir;
}
