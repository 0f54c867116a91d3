// Builds the operator console (web/console/) into dist/web/console/, served by the gateway at
// /console (src/console/console-page.controller.ts). Everything is bundled: no CDN, no web font.
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/console/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/web/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Small assets inlined as data: URLs would be fine under the CSP, but keep everything a file.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: ['chrome100', 'firefox100', 'safari15'],
    modulePreload: { polyfill: false },
  },
});
