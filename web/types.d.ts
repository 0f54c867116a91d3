/** esbuild bundles CSS imported from TypeScript into a .css file beside the script. */
declare module '*.css';
