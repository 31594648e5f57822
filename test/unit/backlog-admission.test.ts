import { describe, expect, it } from 'vitest';
import { decideAdmission, drainSeconds, type BacklogStats } from '../../src/limits/backlog-admission.js';

const stats = (overrides: Partial<BacklogStats>): BacklogStats => ({
  queue: 'hookflow',
  type: 'activity',
  backlogCount: 0,
  oldestAgeSeconds: 0,
  dispatchPerSecond: 0,
  ...overrides,
});

describe('drainSeconds', () => {
  it('is the backlog at the rate tasks are handed out', () => {
    expect(drainSeconds(stats({ backlogCount: 300, dispatchPerSecond: 10, oldestAgeSeconds: 2 }))).toBe(30);
  });
  it('is the oldest task’s wait when nothing is handed out (no worker polls)', () => {
    expect(drainSeconds(stats({ backlogCount: 5, oldestAgeSeconds: 42 }))).toBe(42);
  });
  it('is 0 with nothing waiting, whatever the age reported', () => {
    expect(drainSeconds(stats({ backlogCount: 0, oldestAgeSeconds: 9, dispatchPerSecond: 0 }))).toBe(0);
  });
});

describe('decideAdmission', () => {
  it('admits while every queue drains within the bound', () => {
    const decision = decideAdmission(
      [
        stats({ backlogCount: 100, dispatchPerSecond: 10 }),
        stats({ type: 'workflow', backlogCount: 5, dispatchPerSecond: 50 }),
      ],
      10,
    );
    expect(decision).toEqual({ admit: true });
  });

  it('refuses on the slowest queue, asking to retry once the excess drains', () => {
    const decision = decideAdmission(
      [
        stats({ type: 'workflow', backlogCount: 10, dispatchPerSecond: 50 }),
        stats({ queue: 'hookflow', type: 'activity', backlogCount: 250, dispatchPerSecond: 10 }),
      ],
      10,
    );
    expect(decision).toEqual({
      admit: false,
      drainSeconds: 25,
      retryAfterSeconds: 15,
      queue: 'hookflow',
      type: 'activity',
    });
  });

  it('asks for at least 1 s and at most a minute', () => {
    const barely = decideAdmission([stats({ backlogCount: 101, dispatchPerSecond: 10 })], 10);
    expect(barely).toMatchObject({ admit: false, retryAfterSeconds: 1 });
    const far = decideAdmission([stats({ backlogCount: 5, oldestAgeSeconds: 3600 })], 10);
    expect(far).toMatchObject({ admit: false, retryAfterSeconds: 60 });
  });
});
