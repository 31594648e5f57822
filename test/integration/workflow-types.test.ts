import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/api/services/run-service.js';
import { randomRunId } from '../../src/api/services/run-ids.js';
import { runStartDetails } from '../../src/temporal/adapter.js';
import { PATCHES } from '../../src/workflows/patches.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../src/workflows/names.js';
import type { RunStepsInput } from '../../src/workflows/types.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * New runs start as runStepsV2, which starts with the email step's two changes built in: no patch marker and no
 * TemporalChangeVersion upsert per run (two history events and a visibility write each). Runs that builds before it
 * started carry the type runSteps and keep taking their recorded path through patched(); the worker still serves
 * them and the API still reads and lists them.
 */

const EventType = temporal.api.enums.v1.EventType;
const fast = { initialInterval: '200ms', maxInterval: '500ms', backoffCoefficient: 2, maxAttempts: 5 };

let stack: Stack;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack();
  auth = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
});

async function historyOf(runId: string) {
  return (await stack.client.workflow.getHandle(runId).fetchHistory()).events ?? [];
}

describe('interpreter workflow types', () => {
  it('starts a webhook run as runStepsV2: the email is sent with the current options and no patch marker is recorded', async () => {
    const workflow = await stack.createWorkflow(auth.authorization, {
      name: 'Types',
      steps: [
        {
          id: 'welcome',
          type: 'email',
          params: { to: '{{trigger.body.email}}', subject: 'Hi {{trigger.body.name}}', text: 'Hello' },
          retry: fast,
        },
      ],
    });
    const runId = await stack.deliver(workflow.webhook.token, { email: 'v2@example.com', name: 'Vee' });
    const run = await stack.runToEnd(auth.authorization, runId);
    expect(run.status).toBe('completed');
    expect(stack.resend.emails.at(-1)?.subject).toBe('Hi Vee');

    const description = await stack.client.workflow.getHandle(runId).describe();
    expect(description.type).toBe(RUN_STEPS_WORKFLOW_TYPE);
    const events = await historyOf(runId);
    const types = events.map((event) => event.eventType);
    expect(types).not.toContain(EventType.EVENT_TYPE_MARKER_RECORDED);
    expect(types).not.toContain(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
    // email-activity-v2's options hold from the start: a heartbeat timeout and the 23 h schedule-to-close bound.
    const scheduled = events.find(
      (event) => event.activityTaskScheduledEventAttributes,
    )?.activityTaskScheduledEventAttributes;
    expect(Number(scheduled?.heartbeatTimeout?.seconds)).toBe(5);
    expect(Number(scheduled?.scheduleToCloseTimeout?.seconds)).toBe(23 * 3600);

    // A run an older build's API started (type runSteps, the same input): served, read and listed as before.
    const started = events[0]?.workflowExecutionStartedEventAttributes;
    const input = await decodeFromPayloadsAtIndex<RunStepsInput>(
      stack.client.options.loadedDataConverter,
      0,
      started?.input?.payloads,
    );
    const legacyId = randomRunId();
    const legacyInput: RunStepsInput = { ...input, run: { ...input.run, id: legacyId } };
    await stack.client.workflow.start('runSteps', {
      args: [legacyInput],
      taskQueue: started?.taskQueue?.name ?? '',
      workflowId: legacyId,
      memo: runStartDetails.memo(legacyInput),
      typedSearchAttributes: runStartDetails.searchAttributes(legacyInput),
    });
    const legacy = await stack.runToEnd(auth.authorization, legacyId);
    expect(legacy.status).toBe('completed');
    expect(legacy.steps.map((step) => step.status)).toEqual(['completed']);
    const markers = (await historyOf(legacyId)).flatMap((event) => {
      const details = event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      return details ? [(JSON.parse(Buffer.from(details).toString()) as { id: string }).id] : [];
    });
    expect(markers).toEqual([PATCHES.emailActivityV2, PATCHES.renderHardening]);

    // Visibility catches up a moment after a run ends.
    const listed = await eventually(
      async () =>
        (
          await stack.app.inject({
            url: `/v1/workflows/${workflow.id}/runs`,
            headers: { authorization: auth.authorization },
          })
        ).json<{ items: RunSummary[] }>(),
      (page) => page.items.length === 2,
    );
    expect(listed.items.map((summary) => summary.id).sort()).toEqual([runId, legacyId].sort());
  });
});
