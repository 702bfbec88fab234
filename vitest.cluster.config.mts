import { defineConfig } from 'vitest/config';

/** `npm run test:cluster`: the production-shape tests against the production Temporal server on Postgres. */
export default defineConfig({
  test: {
    include: ['test/integration/replicas.test.ts', 'test/integration/runbook.test.ts', 'test/integration/crash.test.ts'],
    globalSetup: ['test/support/cluster-global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
