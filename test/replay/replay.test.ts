import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { hookflowDataConverter } from '../../src/temporal/connection.js';
import { parsePayloadKeys } from '../../src/temporal/payload-codec.js';
import { installWorkerLogging, workflowsPath } from '../../src/temporal/worker.js';

installWorkerLogging('warn');

/*
 * Runs in flight survive upgrades (DESIGN §8): every history recorded from an earlier build (test/replay/histories,
 * made by `npm run replay:record`) must replay on today's workflow code without a nondeterminism error. A history
 * cut mid-run (a run sleeping in a delay) replays up to where it was cut, which is what a new worker does when
 * that run's timer fires after a deploy.
 *
 * Workers decode through the payload codec now (PAYLOAD_ENCRYPTION_KEYS), and every recording was made before it
 * existed: they replay through it, as a run started before encryption was switched on does after the upgrade.
 */
const keys = parsePayloadKeys(`k1:${randomBytes(32).toString('base64')}`);
if ('error' in keys) throw new Error(keys.error);
const dataConverter = hookflowDataConverter(keys.keys);

const historiesDir = join(import.meta.dirname, 'histories');
const recorded = readdirSync(historiesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((build) =>
    readdirSync(join(historiesDir, build.name))
      .filter((file) => file.endsWith('.json'))
      .map((file) => ({ build: build.name, scenario: file.replace(/\.json$/, '') })),
  );

describe('replay of recorded histories on the current workflow code', () => {
  it('has recordings to replay', () => {
    expect(recorded.length).toBeGreaterThan(0);
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const histories = recorded.map(({ build, scenario }) => ({
      workflowId: `${build}/${scenario}`,
      history: historyFromJSON(
        JSON.parse(readFileSync(join(historiesDir, build, `${scenario}.json`), 'utf8')),
      ),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: workflowsPath(), dataConverter },
      histories,
    )) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(recorded.length);
  }, 120_000);
});
