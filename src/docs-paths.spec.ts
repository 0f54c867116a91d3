/**
 * The docs name real files: every `src/...` path written in README.md, docs/ and src/**\/README.md
 * exists (a path under dist/ names the build of a src/ file and is checked as that .ts file).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');

function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  const inSrc = (readdirSync(join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('README.md')).map((f) => join('src', f));
  return ['README.md', ...docs, ...inSrc];
}

describe('paths named in the docs', () => {
  it('every src/ path in README.md and docs/ exists', () => {
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/(dist\/)?\bsrc\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]/g)) {
        const path = m[1] ? m[0].slice('dist/'.length).replace(/\.js$/, '.ts') : m[0];
        if (!existsSync(join(root, path))) missing.push(`${file}: ${m[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
