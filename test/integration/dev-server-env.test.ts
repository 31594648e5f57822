import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { devServerEnv, findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';

/*
 * npm start's dev server collects its Go heap at GOGC=50 unless the user's environment chooses a GOGC of its own, and
 * keeps at most 1,024 executions' state in memory (its memory under load; bench/RESULTS.md).
 */

it('starts the dev server with GOGC=50 and a bounded state cache', async () => {
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
    const args = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
    expect(args.join(' ')).toContain('--dynamic-config-value history.hostLevelCacheMaxSize=1024');
  } finally {
    await server.stop();
  }
});

it("keeps the user's own GOGC", () => {
  expect(devServerEnv({ GOGC: '200', PATH: '/bin' })).toEqual({ GOGC: '200', PATH: '/bin' });
  expect(devServerEnv({ PATH: '/bin' })).toEqual({ GOGC: '50', PATH: '/bin' });
});
