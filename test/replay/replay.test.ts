import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { hookflowDataConverter } from '../../src/temporal/connection.js';
import { ENCRYPTED_ENCODING, parsePayloadKeys } from '../../src/temporal/payload-codec.js';
import { installWorkerLogging, workflowsPath } from '../../src/temporal/worker.js';
import { REPLAY_PAYLOAD_KEYS } from './payload-keys.js';

installWorkerLogging('warn');

/*
 * Runs in flight survive upgrades (DESIGN §8): every history recorded from an earlier build (test/replay/histories,
 * made by `npm run replay:record`) must replay on today's workflow code without a nondeterminism error. A history
 * cut mid-run (a run sleeping in a delay) replays up to where it was cut, which is what a new worker does when
 * that run's timer fires after a deploy.
 *
 * Workers decode through the payload codec (PAYLOAD_ENCRYPTION_KEYS). Recordings made before it existed are plain and
 * replay through it as a run started before encryption was switched on does after the upgrade; later ones are
 * encrypted with the fixture key in payload-keys.ts, as a deployed worker's history is.
 */
const keys = parsePayloadKeys(REPLAY_PAYLOAD_KEYS);
if ('error' in keys) throw new Error(keys.error);
const dataConverter = hookflowDataConverter(keys.keys);
/** How an encrypted payload's `encoding` metadata reads in a history's JSON. */
const ENCRYPTED_ENCODING_BASE64 = Buffer.from(ENCRYPTED_ENCODING).toString('base64');

const historiesDir = join(import.meta.dirname, 'histories');
const recorded = readdirSync(historiesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((build) =>
    readdirSync(join(historiesDir, build.name))
      .filter((file) => file.endsWith('.json'))
      .map((file) => ({ build: build.name, scenario: file.replace(/\.json$/, '') })),
  );

describe('replay of recorded histories on the current workflow code', () => {
  it('has recordings to replay, plain and encrypted', () => {
    expect(recorded.length).toBeGreaterThan(0);
    const encrypted = recorded.filter(({ build, scenario }) =>
      readFileSync(join(historiesDir, build, `${scenario}.json`), 'utf8').includes(ENCRYPTED_ENCODING_BASE64),
    );
    expect(encrypted.length).toBeGreaterThan(0);
    expect(encrypted.length).toBeLessThan(recorded.length);
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
