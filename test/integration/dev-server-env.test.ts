import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { devServerEnv, findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';

/*
 * npm start's dev server collects its Go heap at GOGC=50 (its memory under load; bench/RESULTS.md) unless the user's
 * environment chooses a GOGC of its own.
 */

it('starts the dev server with GOGC=50', async () => {
  const server = await startDevServer({
    cliPath: await findTemporalCli({
      cliPath: process.env.TEMPORAL_CLI_PATH || undefined,
      allowDownload: false,
    }),
    port: 0,
    uiPort: 0,
  });
  try {
    expect(server.pid).toBeDefined();
    const environment = readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
    expect(environment).toContain('GOGC=50');
  } finally {
    await server.stop();
  }
});

it("keeps the user's own GOGC", () => {
  expect(devServerEnv({ GOGC: '200', PATH: '/bin' })).toEqual({ GOGC: '200', PATH: '/bin' });
  expect(devServerEnv({ PATH: '/bin' })).toEqual({ GOGC: '50', PATH: '/bin' });
});
