// `npm run replay:record -- <label> [scenario...]`: runs the replay scenarios on this build (real Temporal dev
// server, real worker and API, fake Resend, a local http target) and writes each run's history to
// test/replay/histories/<label>/<scenario>.json. Record before changing workflow code, and commit the files: the
// replay suite then proves the next build can finish runs this one started. The label names the build, e.g.
// `2026-12-01-before-http-step`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { RunResource, RunSummary } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';
import { installWorkerLogging } from '../../src/temporal/worker.js';
import { startHttpTarget } from '../helpers/http-target.js';
import { startStack } from '../helpers/stack.js';
import { REPLAY_PAYLOAD_KEYS } from './payload-keys.js';
import { scenarios, type ScenarioDriver } from './scenarios.js';

const label = process.argv[2];
if (!label || !/^[a-z0-9][a-z0-9._-]*$/.test(label)) {
  console.error('usage: npm run replay:record -- <label>   (lower-case, e.g. 2026-12-01-before-http-step)');
  process.exit(2);
}
const only = process.argv.slice(3);
const outDir = join(import.meta.dirname, 'histories', label);
const log = (message: string) => console.error(`replay:record: ${message}`);

installWorkerLogging('warn');
const cliPath = await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH || undefined });
log(`starting a Temporal dev server (${cliPath})...`);
const server = await startDevServer({ cliPath, port: 0, uiPort: 0 });
const target = await startHttpTarget();
log('bundling workflow code and starting a worker...');
const stack = await startStack({
  driver: 'pglite',
  temporalAddress: server.address,
  // Encrypted like a deployed worker's history, with the fixture key the replay test decrypts with.
  env: { HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8', PAYLOAD_ENCRYPTION_KEYS: REPLAY_PAYLOAD_KEYS },
});

try {
  const { authorization } = await stack.signUp();
  const call = async (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    status: number,
    payload?: unknown,
  ) => {
    const response = await stack.app.inject({
      method,
      url,
      headers: { authorization },
      ...(payload !== undefined && { payload: payload as object }),
    });
    if (response.statusCode !== status)
      throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
    return response;
  };
  const driver: ScenarioDriver = {
    resend: stack.resend,
    target,
    async putSecret(name, value) {
      await call('PUT', `/v1/secrets/${name}`, 200, { value });
    },
    async createWorkflow(definition) {
      return (await call('POST', '/v1/workflows', 201, definition)).json<WorkflowResource>();
    },
    async hit(workflow, body) {
      const response = await stack.app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      if (response.statusCode !== 202)
        throw new Error(`POST /hooks/:token: ${response.statusCode} ${response.body}`);
      return response.json<{ runId: string }>().runId;
    },
    async waitForRun(runId, done = (run) => run.status !== 'running') {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const run = (await call('GET', `/v1/runs/${runId}`, 200)).json<RunResource>();
        if (done(run)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} did not get there: ${JSON.stringify(run)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async runsOf(workflowId) {
      return (await call('GET', `/v1/workflows/${workflowId}/runs`, 200)).json<{ items: RunSummary[] }>()
        .items;
    },
    async remove(workflowId) {
      await call('DELETE', `/v1/workflows/${workflowId}`, 204);
    },
    async control(runId, action) {
      return (await call('POST', `/v1/runs/${runId}/${action}`, 202)).json<RunResource>();
    },
  };

  mkdirSync(outDir, { recursive: true });
  for (const scenario of scenarios) {
    if (only.length > 0 && !only.includes(scenario.name)) continue;
    const runId = await scenario.run(driver);
    const history = await stack.client.workflow.getHandle(runId).fetchHistory();
    const file = join(outDir, `${scenario.name}.json`);
    // Pretty-printed so a diff of two recordings reads event by event.
    writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
    log(`${scenario.name}: ${history.events?.length ?? 0} events → ${file}`);
  }
} finally {
  await stack.close();
  await target.close();
  await server.stop();
}
