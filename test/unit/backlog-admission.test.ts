import { describe, expect, it } from 'vitest';
import {
  createBacklogAdmission,
  decideAdmission,
  type BacklogStats,
} from '../../src/limits/backlog-admission.js';
import { testConfig } from '../helpers/config.js';

const stats = (overrides: Partial<BacklogStats>): BacklogStats => ({
  queue: 'hookflow',
  type: 'activity',
  backlogCount: 0,
  oldestAgeSeconds: 0,
  ...overrides,
});

describe('decideAdmission', () => {
  it('admits while no task has waited longer than the bound', () => {
    const decision = decideAdmission(
      [
        stats({ backlogCount: 300, oldestAgeSeconds: 9 }),
        stats({ type: 'workflow', backlogCount: 5, oldestAgeSeconds: 1 }),
      ],
      10,
    );
    expect(decision).toEqual({ admit: true });
  });

  it('refuses on the queue whose oldest task waited longest, asking to retry once the excess is gone', () => {
    const decision = decideAdmission(
      [
        stats({ type: 'workflow', backlogCount: 10, oldestAgeSeconds: 3 }),
        stats({ queue: 'hookflow-http', type: 'activity', backlogCount: 250, oldestAgeSeconds: 25.4 }),
      ],
      10,
    );
    expect(decision).toEqual({
      admit: false,
      waitedSeconds: 25.4,
      retryAfterSeconds: 16,
      queue: 'hookflow-http',
      type: 'activity',
    });
  });

  it('ignores an age reported for an empty queue', () => {
    expect(decideAdmission([stats({ backlogCount: 0, oldestAgeSeconds: 99 })], 10)).toEqual({ admit: true });
  });

  it('asks for 5 s at least (the stats are renewed every few seconds) and a minute at most', () => {
    const barely = decideAdmission([stats({ backlogCount: 3, oldestAgeSeconds: 10.5 })], 10);
    expect(barely).toMatchObject({ admit: false, retryAfterSeconds: 5 });
    const far = decideAdmission([stats({ backlogCount: 5, oldestAgeSeconds: 3600 })], 10);
    expect(far).toMatchObject({ admit: false, retryAfterSeconds: 60 });
  });
});

describe('WEBHOOK_MAX_BACKLOG_SECONDS', () => {
  it('is off by default, and refuses bounds the task-queue stats cannot judge', () => {
    expect(testConfig().webhooks.maxBacklogSeconds).toBe(0);
    expect(testConfig({ WEBHOOK_MAX_BACKLOG_SECONDS: '30' }).webhooks.maxBacklogSeconds).toBe(30);
    expect(() => testConfig({ WEBHOOK_MAX_BACKLOG_SECONDS: '2' })).toThrow(
      /WEBHOOK_MAX_BACKLOG_SECONDS.*at least 10/,
    );
  });
});

describe('createBacklogAdmission', () => {
  /** A Temporal client whose task queues report `age` seconds of backlog (or fail when `age` is an Error). */
  function clientReporting(read: () => number | Error) {
    return {
      workflowService: {
        describeTaskQueue: () => {
          const age = read();
          if (age instanceof Error) return Promise.reject(age);
          return Promise.resolve({
            stats: {
              approximateBacklogCount: age > 0 ? 3 : 0,
              approximateBacklogAge: { seconds: age, nanos: 0 },
            },
          });
        },
      },
    } as unknown as Parameters<typeof createBacklogAdmission>[0]['client'];
  }

  it('refuses while the backlog is past the bound, tells the operator when refusals start and end, and admits when the stats cannot be read', async () => {
    let age: number | Error = 0;
    const warnings: string[] = [];
    const admission = createBacklogAdmission({
      client: clientReporting(() => age),
      namespace: 'default',
      queues: [{ name: 'hookflow', types: ['workflow', 'activity'] }],
      maxSeconds: 10,
      intervalMs: 10,
      warn: (message) => warnings.push(message),
    });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 60));
    try {
      await settle();
      expect(admission.check()).toEqual({ admit: true });

      age = 42;
      await settle();
      expect(admission.check()).toMatchObject({ admit: false, waitedSeconds: 42, retryAfterSeconds: 32 });

      age = new Error('UNAVAILABLE');
      await settle();
      expect(admission.check()).toEqual({ admit: true });
    } finally {
      admission.stop();
    }
    expect(warnings).toEqual([
      'refusing webhooks (503 OVER_CAPACITY): a workflow task on task queue "hookflow" has waited 42 s for a worker, more than WEBHOOK_MAX_BACKLOG_SECONDS (10 s)',
      'admitting webhooks again',
      'could not read the task queue backlog; admitting webhooks meanwhile',
    ]);
  });
});
