// Bundles the browser pages with esbuild (part of `npm run build`): web/phone/ into dist/web/phone/
// (index.html, app.js, app.css), every dependency inside the bundle, so the page loads nothing
// from any other site (no CDN, no web fonts). Run after `tsc -p web/tsconfig.json` has checked the types.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, 'dist/web/phone');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: resolve(root, 'web/phone/main.ts') },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'eof',
  // JsSIP logs through `debug`, silent unless localStorage.debug is set.
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
copyFileSync(resolve(root, 'web/phone/index.html'), resolve(out, 'index.html'));
