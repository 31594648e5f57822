import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // One Temporal dev server and one PostgreSQL for the whole run; every test file isolates itself
          // (its own database, task queue and users), so files may still run in parallel.
          globalSetup: ['test/helpers/global-setup.ts'],
          setupFiles: ['test/helpers/integration-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
