import { defineConfig } from 'vitest/config';

// CI sets TEST_REPORT_DIR to collect machine-readable results (one file per vitest process) for its summary line.
const reportDir = process.env.TEST_REPORT_DIR;

export default defineConfig({
  test: {
    reporters: reportDir ? ['default', 'json'] : ['default'],
    ...(reportDir && { outputFile: { json: `${reportDir}/vitest-${process.pid}.json` } }),
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          // Histories recorded from earlier builds replayed on today's workflow code (DESIGN §8); no server needed.
          name: 'replay',
          include: ['test/replay/**/*.test.ts'],
          testTimeout: 120_000,
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
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          // The shared dev server and workflow bundle serve the tests that leave Temporal alone; the test that
          // restarts Temporal starts its own. Files run one at a time: each one kills and restarts real
          // processes, and on a small machine two of them at once would starve each other's timeouts.
          globalSetup: ['test/helpers/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The native production topology (temporal-server on PostgreSQL, UI server, API, workers): one stack per
          // file, files one at a time. The first run builds the Temporal binaries (minutes, cached afterwards).
          name: 'stack',
          include: ['test/stack/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
