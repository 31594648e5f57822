import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { expect, it } from 'vitest';
import {
  devServerEnv,
  findFreePort,
  findTemporalCli,
  startDevServer,
} from '../../src/temporal/dev-server.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../../src/temporal/search-attributes.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../src/workflows/names.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';

const cliPath = () =>
  findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH || undefined, allowDownload: false });

/*
 * npm start's dev server collects its Go heap at GOGC=50 unless the user's environment chooses a GOGC of its own,
 * keeps at most 1,024 executions' state in memory (its memory under load; bench/RESULTS.md), and answers starts from
 * its caches of the namespace and search attributes rather than from SQLite.
 */

it('starts the dev server with GOGC=50 and a bounded state cache', async () => {
  const server = await startDevServer({ cliPath: await cliPath(), port: 0, uiPort: 0 });
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

/** Reads of the cluster metadata and of a namespace from the dev server's SQLite, all its services together. */
async function metadataReads(metricsPort: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const samples = parsePrometheus(await response.text());
  return ['GetCurrentClusterMetadata', 'GetNamespace']
    .map((operation) => sampleValue(samples, 'persistence_latency_count', { operation }))
    .reduce((sum, count) => sum + count, 0);
}

it('starts runs without reading the namespace or the search attributes from SQLite each time', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookflow-dev-server-'));
  const metricsPort = await findFreePort();
  const server = await startDevServer({
    cliPath: await cliPath(),
    port: 0,
    uiPort: 0,
    dbFile: join(dataDir, 'temporal.db'),
    metricsPort,
  });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const workflowId = `wf_${randomUUID()}`;
    const starts = 40;
    const before = await metadataReads(metricsPort);
    for (let i = 0; i < starts; i++) {
      await client.workflow.start(RUN_STEPS_WORKFLOW_TYPE, {
        taskQueue: `no-worker-${workflowId}`,
        workflowId: `run_${i}_${workflowId}`,
        typedSearchAttributes: [
          { key: HOOKFLOW_WORKFLOW_ID, value: workflowId },
          { key: HOOKFLOW_OWNER_ID, value: 'usr_dev_server_test' },
        ],
      });
    }
    // With the CLI's own setting (system.forceSearchAttributesCacheRefreshOnRead) each start read them ~4 times;
    // without it, 1 read in 40 starts was measured. The bound leaves room for the caches' own periodic refreshes.
    expect(await metadataReads(metricsPort)).toBeLessThan(before + starts / 4);
    // The search attributes registered at start-up are known to visibility: the runs are found by them.
    await expect
      .poll(async () => (await client.workflow.count(`HookflowWorkflowId = "${workflowId}"`)).count, {
        timeout: 15_000,
      })
      .toBe(starts);
  } finally {
    await connection.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
