// `npm run replay:record -- <label>`: runs every replay scenario on this build (real Temporal dev server, real
// worker and API, fake Resend) and writes each run's history to test/replay/histories/<label>/<scenario>.json.
// Record before changing workflow code, and commit the files: the replay suite then proves the next build can
// finish runs this one started. The label names the build, e.g. `2026-12-01-before-http-step`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { createActivities } from '../../src/activities/index.js';
import { createResendTransport } from '../../src/activities/email-transport.js';
import { buildApp } from '../../src/api/app.js';
import { secretResolverFor } from '../../src/secrets/resolver.js';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';
import { connectWorker, createHookflowWorker, installWorkerLogging } from '../../src/temporal/worker.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';
import { startFakeResend } from '../helpers/fake-resend.js';
import { startHttpTarget } from '../helpers/http-target.js';
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
const resend = await startFakeResend();
const target = await startHttpTarget();
const config = testConfig({
  RESEND_API_KEY: 're_record_key',
  RESEND_BASE_URL: resend.url,
  PUBLIC_URL: 'http://hookflow.test',
  HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8',
});
const db = await openMigratedDb('pglite');
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection, namespace: config.temporal.namespace });
const workerConnection = await connectWorker(server.address);
log('bundling workflow code and starting a worker...');
const worker = await createHookflowWorker({
  connection: workerConnection,
  temporal: config.temporal,
  email: config.email,
  activities: createActivities({
    config,
    transport: createResendTransport(config.email),
    secrets: secretResolverFor(config, db),
  }),
  shutdownGraceMs: 1000,
});
const running = worker.run();
const app = await buildApp({ config, db, temporal: { connection, client } });

try {
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: `recorder-${randomUUID()}@example.com`, password: 'correct horse battery staple' },
  });
  const { token } = registered.json<{ token: string }>();
  const authorization = `Bearer ${token}`;

  const expectStatus = (response: { statusCode: number; body: string }, status: number, what: string) => {
    if (response.statusCode !== status) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
  };
  const getRun = async (runId: string) => {
    const response = await app.inject({ url: `/v1/runs/${runId}`, headers: { authorization } });
    expectStatus(response, 200, `GET /v1/runs/${runId}`);
    return response.json<RunResource>();
  };
  const driver: ScenarioDriver = {
    resend,
    target,
    async putSecret(name, value) {
      const response = await app.inject({
        method: 'PUT',
        url: `/v1/secrets/${name}`,
        headers: { authorization },
        payload: { value },
      });
      expectStatus(response, 200, `PUT /v1/secrets/${name}`);
    },
    async createWorkflow(definition) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization },
        payload: definition,
      });
      expectStatus(response, 201, 'POST /v1/workflows');
      return response.json<WorkflowResource>();
    },
    async hit(workflow, body) {
      const response = await app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      expectStatus(response, 202, 'POST /hooks/:token');
      return response.json<{ runId: string }>().runId;
    },
    async waitForRun(runId, done = (run) => run.status !== 'running') {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const run = await getRun(runId);
        if (done(run)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} did not get there: ${JSON.stringify(run)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async control(runId, action) {
      const response = await app.inject({
        method: 'POST',
        url: `/v1/runs/${runId}/${action}`,
        headers: { authorization },
      });
      expectStatus(response, 202, `POST /v1/runs/${runId}/${action}`);
      return response.json<RunResource>();
    },
  };

  mkdirSync(outDir, { recursive: true });
  for (const scenario of scenarios) {
    if (only.length > 0 && !only.includes(scenario.name)) continue;
    const runId = await scenario.run(driver);
    const history = await client.workflow.getHandle(runId).fetchHistory();
    const file = join(outDir, `${scenario.name}.json`);
    // Pretty-printed so a diff of two recordings reads event by event.
    writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
    log(`${scenario.name}: ${history.events?.length ?? 0} events → ${file}`);
  }
} finally {
  await app.close();
  worker.shutdown();
  await running;
  await workerConnection.close();
  await connection.close();
  await db.close();
  await resend.close();
  await target.close();
  await server.stop();
}
