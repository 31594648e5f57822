import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStartGate } from '../../src/limits/start-gate.js';

afterEach(() => {
  vi.useRealTimers();
});

const far = () => Date.now() + 60_000;

describe('the start gate', () => {
  it('lets `limit` starts through at once and the others in arrival order, each as one ends', async () => {
    const gate = createStartGate(2);
    const order: string[] = [];
    const first = (await gate.enter(far()))!;
    const second = (await gate.enter(far()))!;
    const third = gate.enter(far()).then((leave) => (order.push('third'), leave!));
    const fourth = gate.enter(far()).then((leave) => (order.push('fourth'), leave!));
    expect([gate.inFlight, gate.waiting]).toEqual([2, 2]);

    second();
    second(); // a second call of the same release changes nothing
    (await third)();
    first();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
    expect([gate.inFlight, gate.waiting]).toEqual([0, 0]);
  });

  it('gives up on a start whose turn did not come in time, and the queue goes on without it', async () => {
    vi.useFakeTimers();
    const gate = createStartGate(1);
    const leave = (await gate.enter(far()))!;
    const late = gate.enter(Date.now() + 1_000);
    const patient = gate.enter(far());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await late).toBeUndefined();
    expect(gate.waiting).toBe(1);
    leave();
    expect(await patient).toBeTypeOf('function');
  });

  it('with a limit of 0 lets everything through, still counting the starts in flight', async () => {
    const gate = createStartGate(0);
    const entered = await Promise.all(Array.from({ length: 50 }, () => gate.enter(Date.now())));
    expect(entered.every((leave) => typeof leave === 'function')).toBe(true);
    expect([gate.inFlight, gate.waiting]).toEqual([50, 0]);
    for (const leave of entered) leave!();
    expect(gate.inFlight).toBe(0);
  });
});
