import type { RunResource, RunSummary } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import type { FakeResend } from '../helpers/fake-resend.js';
import type { HttpTarget } from '../helpers/http-target.js';

/*
 * The paths through the interpreter whose histories the replay suite keeps (DESIGN §8). Each scenario drives the
 * real API and worker to a point and names the run whose history is then recorded. Add a scenario for every new
 * step type or path, record it from the build that introduces it (`npm run replay:record`), and keep the
 * histories of older builds: they are the runs that may still be in flight when a new build deploys.
 */

/** What a scenario can do: the API of one recording stack, driven in-process. */
export interface ScenarioDriver {
  resend: FakeResend;
  /** A local server http steps may call (loopback is opened to them while recording). */
  target: HttpTarget;
  /** PUT /v1/secrets/:name for the recording account. */
  putSecret(name: string, value: string): Promise<void>;
  createWorkflow(definition: object): Promise<WorkflowResource>;
  /** POSTs the webhook; returns the run id. */
  hit(workflow: WorkflowResource, body: unknown): Promise<string>;
  waitForRun(runId: string, done?: (run: RunResource) => boolean): Promise<RunResource>;
  /** POST /v1/runs/:id/{cancel,retry}; returns the run resource answered. */
  control(runId: string, action: 'cancel' | 'retry'): Promise<RunResource>;
  /** GET /v1/workflows/:id/runs (newest first). */
  runsOf(workflowId: string): Promise<RunSummary[]>;
  /** DELETE /v1/workflows/:id. */
  remove(workflowId: string): Promise<void>;
}

export interface Scenario {
  name: string;
  /** Drives one run to the point worth keeping and returns its id. */
  run(driver: ScenarioDriver): Promise<string>;
}

const fastRetry = { initialInterval: '100ms', maxInterval: '200ms', backoffCoefficient: 2, maxAttempts: 3 };

const welcome = {
  id: 'welcome',
  type: 'email',
  params: {
    to: '{{trigger.body.email}}',
    subject: 'Welcome, {{trigger.body.name}}',
    html: '<p>Hi {{trigger.body.name}}</p>',
    text: 'Hi {{trigger.body.name}}',
  },
  retry: fastRetry,
};
const signup = { email: 'ada@example.com', name: 'Ada', plan: 'pro' };

const isClosed = (run: RunResource) => run.status !== 'running';

export const scenarios: Scenario[] = [
  {
    name: 'email-only',
    async run(driver) {
      const workflow = await driver.createWorkflow({ name: 'Email only', steps: [welcome] });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'email-retried-after-provider-error',
    async run(driver) {
      const workflow = await driver.createWorkflow({ name: 'Retried email', steps: [welcome] });
      driver.resend.failNext({ status: 500 });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'email-delay-when-skipped',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Delay and guard',
        steps: [
          welcome,
          { id: 'wait', type: 'delay', params: { duration: '1s' } },
          {
            id: 'nudge',
            type: 'email',
            when: { path: 'trigger.body.plan', op: 'eq', value: 'free' },
            params: { to: '{{trigger.body.email}}', subject: 'Still there?', text: 'Hi again' },
          },
          {
            id: 'receipt',
            type: 'email',
            when: { path: 'steps.welcome.output.providerId', op: 'exists' },
            params: {
              to: '{{trigger.body.email}}',
              subject: 'Receipt',
              text: 'Sent {{steps.welcome.output.to}}',
            },
          },
        ],
      });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'failed-step',
    run: (driver) => startFailingRun(driver, 'Failed step'),
  },
  {
    name: 'retried-run-resumed-from-failed-step',
    async run(driver) {
      const failed = await startFailingRun(driver, 'Retried run');
      const retry = await driver.control(failed, 'retry');
      await expectStatus(driver, retry.id, 'completed');
      return retry.id;
    },
  },
  {
    name: 'template-error',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Bad recipient',
        steps: [{ ...welcome, params: { ...welcome.params, to: '{{trigger.body.name}}' } }],
      });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'failed');
      return runId;
    },
  },
  {
    name: 'cancelled-during-delay',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Cancelled',
        steps: [
          welcome,
          { id: 'wait', type: 'delay', params: { duration: '1h' } },
          { ...welcome, id: 'later' },
        ],
      });
      const runId = await driver.hit(workflow, signup);
      await driver.waitForRun(runId, (run) => run.steps[1]?.status === 'waiting');
      await driver.control(runId, 'cancel');
      await expectStatus(driver, runId, 'cancelled');
      return runId;
    },
  },
  {
    // Recorded mid-run: replaying it is what a new worker does when an old run's timer fires after a deploy.
    name: 'sleeping-in-delay',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Sleeping',
        steps: [
          welcome,
          { id: 'wait', type: 'delay', params: { duration: '3d' } },
          { ...welcome, id: 'later' },
        ],
      });
      const runId = await driver.hit(workflow, signup);
      await driver.waitForRun(runId, (run) => run.steps[1]?.status === 'waiting');
      return runId;
    },
  },
  {
    name: 'http-output-read-by-email',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Sync to CRM',
        steps: [
          {
            id: 'crm',
            type: 'http',
            params: {
              method: 'POST',
              url: `${driver.target.url}/v1/contacts`,
              query: { source: 'hookflow' },
              body: { email: '{{trigger.body.email}}', plan: '{{trigger.body.plan}}' },
            },
            retry: fastRetry,
          },
          {
            id: 'thanks',
            type: 'email',
            when: { path: 'steps.crm.output.status', op: 'eq', value: 201 },
            params: {
              to: '{{trigger.body.email}}',
              subject: "You're in",
              text: 'CRM id {{steps.crm.output.body.id}}',
            },
          },
        ],
      });
      driver.target.answerNext({ status: 201, body: { id: 'c_1' } });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'http-retried-after-503',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Flaky API',
        steps: [
          {
            id: 'call',
            type: 'http',
            params: { method: 'GET', url: `${driver.target.url}/flaky` },
            retry: fastRetry,
          },
        ],
      });
      driver.target.answerNext({ status: 503, body: 'down' }, { status: 200, body: { ok: true } });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'http-failed-continue-then-status-guard',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Continue on failure',
        steps: [
          {
            id: 'crm',
            type: 'http',
            onFailure: 'continue',
            params: { method: 'POST', url: `${driver.target.url}/broken`, body: {} },
            retry: fastRetry,
          },
          {
            id: 'alert',
            type: 'email',
            when: { path: 'steps.crm.status', op: 'eq', value: 'failed' },
            params: {
              to: 'ops@example.com',
              subject: 'CRM sync {{steps.crm.status}}',
              text: 'run {{run.id}}',
            },
          },
        ],
      });
      driver.target.answerNext({ status: 400, body: 'bad request' });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    name: 'http-with-secret-header',
    async run(driver) {
      await driver.putSecret('CRM_TOKEN', 'recorded-secret-value');
      const workflow = await driver.createWorkflow({
        name: 'Authenticated call',
        steps: [
          {
            id: 'crm',
            type: 'http',
            params: {
              method: 'GET',
              url: `${driver.target.url}/me`,
              headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
            },
          },
        ],
      });
      const runId = await driver.hit(workflow, signup);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  {
    // Recorded mid-run: an http step waiting for its server, as a deploy can find it.
    name: 'http-in-flight',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Slow API',
        steps: [
          {
            id: 'call',
            type: 'http',
            params: { method: 'POST', url: `${driver.target.url}/slow`, body: {}, timeout: '60s' },
          },
          { ...welcome, id: 'after' },
        ],
      });
      driver.target.answerNext({ hold: true });
      const before = driver.target.requests.length;
      const runId = await driver.hit(workflow, signup);
      await driver.target.waitForRequests(before + 1);
      return runId;
    },
  },
  {
    // Started by a Temporal Schedule: its input has no run id (the workflow id, with the due time, is the id).
    name: 'scheduled-run',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Every two seconds',
        schedule: { every: '2s', payload: { email: 'clock@example.com', name: 'Clock' } },
        steps: [welcome],
      });
      let runId: string | undefined;
      for (let tries = 0; runId === undefined && tries < 100; tries++) {
        const [latest] = await driver.runsOf(workflow.id);
        runId = latest?.id;
        if (runId === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (runId === undefined) throw new Error('the schedule started no run');
      await driver.remove(workflow.id);
      await expectStatus(driver, runId, 'completed');
      return runId;
    },
  },
  // Hostile webhook values (issue 11, "Email abuse"). Recorded from the build before the stricter rendering (where
  // they all complete) and from the build that has it (where some fail the step): the first recording is what
  // proves that runs started before the change keep the old rendering when they replay.
  {
    name: 'recipient-list-in-value',
    async run(driver) {
      const workflow = await driver.createWorkflow({ name: 'Comma list in a value', steps: [welcome] });
      const runId = await driver.hit(workflow, { ...signup, email: 'ada@example.com,grace@example.com' });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  {
    name: 'recipient-array-value',
    async run(driver) {
      const workflow = await driver.createWorkflow({ name: 'Array of recipients', steps: [welcome] });
      const runId = await driver.hit(workflow, {
        ...signup,
        email: ['ada@example.com', 'grace@example.com'],
      });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  {
    name: 'javascript-link',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Link from the body',
        steps: [
          {
            ...welcome,
            params: {
              ...welcome.params,
              html: '<a href="{{trigger.body.url}}">Confirm, {{trigger.body.name}}</a>',
            },
          },
        ],
      });
      const runId = await driver.hit(workflow, { ...signup, url: 'javascript:alert(document.domain)' });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  {
    name: 'header-control-character',
    async run(driver) {
      const workflow = await driver.createWorkflow({ name: 'Tab in a subject', steps: [welcome] });
      const runId = await driver.hit(workflow, { ...signup, name: 'Ada\tLovelace\u2028' });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  {
    name: 'http-header-control-character',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Tab in an http header',
        steps: [
          {
            id: 'crm',
            type: 'http',
            params: {
              method: 'GET',
              url: `${driver.target.url}/note`,
              headers: { 'x-note': '{{trigger.body.name}}' },
            },
            retry: fastRetry,
          },
        ],
      });
      const runId = await driver.hit(workflow, { ...signup, name: 'Ada\tLovelace' });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  // Sender and copy recipients from webhook values (issue 11): before `render-hardening` a display name could hold a
  // comma and a cc/replyTo value was split on commas; runs started then must keep that when they replay.
  {
    name: 'sender-name-with-comma',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Sender from the body',
        steps: [{ ...welcome, params: { ...welcome.params, from: '{{trigger.body.sender}}' } }],
      });
      const runId = await driver.hit(workflow, { ...signup, sender: 'Acme, Inc. <tests@hookflow.test>' });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
  {
    name: 'copy-recipients-in-value',
    async run(driver) {
      const workflow = await driver.createWorkflow({
        name: 'Copies from the body',
        steps: [
          {
            ...welcome,
            params: { ...welcome.params, cc: '{{trigger.body.cc}}', replyTo: ['{{trigger.body.replyTo}}'] },
          },
        ],
      });
      const runId = await driver.hit(workflow, {
        ...signup,
        cc: 'grace@example.com, alan@example.com',
        replyTo: 'support@example.com,sales@example.com',
      });
      await driver.waitForRun(runId, isClosed);
      return runId;
    },
  },
];

/**
 * A run that fails for good at its third step: the provider rejects that email (422, never retried). The first
 * step's email and the delay before the failing step are what a retry of this run carries over.
 */
async function startFailingRun(driver: ScenarioDriver, name: string): Promise<string> {
  const workflow = await driver.createWorkflow({
    name,
    steps: [
      { ...welcome, id: 'first' },
      { id: 'pause', type: 'delay', params: { duration: '1s' } },
      { ...welcome, id: 'second' },
    ],
  });
  const runId = await driver.hit(workflow, signup);
  await driver.waitForRun(runId, (run) => run.steps[1]?.status === 'waiting');
  driver.resend.failNext({ status: 422, name: 'validation_error', message: 'Invalid `to` field.' });
  await expectStatus(driver, runId, 'failed');
  return runId;
}

async function expectStatus(driver: ScenarioDriver, runId: string, status: RunResource['status']) {
  const run = await driver.waitForRun(runId, isClosed);
  if (run.status !== status) {
    throw new Error(`run ${runId} ended ${run.status}, expected ${status}: ${JSON.stringify(run)}`);
  }
}
