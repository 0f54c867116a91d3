/**
 * The layering of DESIGN.md, checked on the source: `sip` and `media` are libraries that import
 * nothing of the rest of src/ (nor Nest, TypeORM or database clients), domain modules never
 * import the B2BUA (`calls`), and queries live only in `*.repository.ts` files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
    ...text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]);
}

describe.each(['sip', 'media'])('src/%s is a library', (lib) => {
  const root = join(SRC, lib);
  it('imports nothing from the rest of src/', () => {
    const outside = files(root).flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith('.'))
        .map((i) => ({ i, to: resolve(dirname(f), i) }))
        // Specs may use test/ support; what matters is that nothing reaches into the rest of src/.
        .filter(({ to }) => !relative(SRC, to).startsWith('..') && relative(root, to).startsWith('..'))
        .map(({ i }) => i)
        .map((i) => `${relative(SRC, f)} imports ${i}`),
    );
    expect(outside).toEqual([]);
  });

  it('imports no framework, ORM or database client', () => {
    const banned = /^(@nestjs\/|typeorm|pg$|ioredis|bullmq|express|fastify)/;
    const found = files(root).flatMap((f) => imports(f).filter((i) => banned.test(i)).map((i) => `${relative(SRC, f)} imports ${i}`));
    expect(found).toEqual([]);
  });
});

it('no domain module imports the calls module', () => {
  const domain = ['numbers', 'users', 'registrar', 'tollfree', 'routing', 'billing', 'auth', 'platform', 'signaling'];
  const found = domain.flatMap((d) => {
    const dir = join(SRC, d);
    try {
      statSync(dir);
    } catch {
      return [];
    }
    return files(dir).flatMap((f) => imports(f).filter((i) => /(^|\/)calls\//.test(i)).map((i) => `${relative(SRC, f)} imports ${i}`));
  });
  expect(found).toEqual([]);
});

it('queries only in *.repository.ts files (and platform/database.ts)', () => {
  const query = /\.query\(|createQueryBuilder\(|getRepository\(|\.manager\./;
  const allowed = (f: string) => f.endsWith('.repository.ts') || f.endsWith('.spec.ts') || relative(SRC, f) === join('platform', 'database.ts');
  const found = files(SRC)
    .filter((f) => !allowed(f))
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (query.test(line) ? [`${relative(SRC, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
  expect(found).toEqual([]);
});
