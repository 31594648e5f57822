import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../src/temporal/worker-thread.js';

/*
 * npm start's worker thread must start however Node was started: a Worker refuses V8 flags in its execArgv
 * (ERR_WORKER_INVALID_EXEC_ARGV), so `node --max-old-space-size=384 --import tsx src/dev.ts` once failed to start.
 */
describe('workerExecArgv', () => {
  it('inherits the host’s options when the host loads TypeScript through tsx, V8 flags and all', () => {
    expect(
      workerExecArgv('/app/src/temporal/worker-thread-entry.ts', [
        '--max-old-space-size=384',
        '--import',
        'tsx',
      ]),
    ).toBeUndefined();
  });

  it('adds tsx alone when the host runs without it (vitest), never the host’s V8 flags', () => {
    expect(workerExecArgv('/app/src/temporal/worker-thread-entry.ts', ['--max-semi-space-size=8'])).toEqual([
      '--import',
      'tsx',
    ]);
  });

  it('needs nothing for the compiled entry', () => {
    expect(
      workerExecArgv('/app/dist/temporal/worker-thread-entry.js', ['--max-old-space-size=384']),
    ).toBeUndefined();
  });
});
