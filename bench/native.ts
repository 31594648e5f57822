// `npx tsx bench/native.ts [--quick] [--shards N] [--dynamic-config file.yaml] [--node-options '…'] [--env NAME=value …]
//   [--out results.json]`
//
// Only the native-topology phases of `npm run bench` (bench/lib/native.ts), for tuning the Temporal server: each run
// creates its own databases (so any shard count can be tried) and can point the server at another dynamic config
// without touching the shipped file. Prints one JSON document on stdout, a summary on stderr. The API and the workers
// run with the heap limits Hookflow is deployed with unless `--node-options` says otherwise (add `--cpu-prof` to it to
// profile them); `--env NAME=value` (repeatable) adds to their environment.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LOW_MEMORY_NODE_FLAGS } from '../src/stack/stack.js';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { startFakeResend } from '../test/helpers/fake-resend.js';
import { measureNative, nativeProfile, STACK_DEFAULT_HISTORY_SHARDS } from './lib/native.js';
import { renderNative } from './lib/report.js';
import { benchCleanups, benchFailed, benchLog as log, emitReport, envFromFlags } from './lib/script.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    shards: { type: 'string', default: String(STACK_DEFAULT_HISTORY_SHARDS) },
    'dynamic-config': { type: 'string' },
    out: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    /**
     * NODE_OPTIONS for the API and the workers (Hookflow's and the ceiling's). Default: the heap limits Hookflow runs
     * with wherever it is deployed, as `npm run bench` uses, so memory and CPU are measured as deployed.
     */
    'node-options': { type: 'string', default: LOW_MEMORY_NODE_FLAGS.join(' ') },
    /** NAME=value added to the API's and the workers' environment (repeatable). */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const nodeOptions = flags['node-options'];
const extraEnv = { ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}), ...envFromFlags(flags.env) };
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const cleanups = benchCleanups();

try {
  const loadAverageAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const dir = mkdtempSync(join(tmpdir(), 'hookflow-bench-native-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const resend = await startFakeResend();
  cleanups.push(() => resend.close());
  const native = await measureNative({
    profile: nativeProfile(flags.quick),
    historyShards: Number(flags.shards),
    ...(flags['dynamic-config'] && { dynamicConfigFile: resolve(flags['dynamic-config']) }),
    workDir: dir,
    ceilingBundle: await writeWorkflowBundle(
      join(dir, 'ceiling-workflows.js'),
      join(repoRoot, 'bench/ceiling/workflows.ts'),
    ),
    hookflowBundle: await writeWorkflowBundle(join(dir, 'hookflow-workflows.js')),
    resend,
    runTag: randomBytes(4).toString('hex'),
    logLevel: flags['log-level'],
    extraEnv,
    dist: false,
    log,
    onCleanup: (stop) => cleanups.push(stop),
  });
  await cleanups.cleanup();
  const report = { meta: { date: new Date().toISOString(), loadAverageAtStart, extraEnv }, native };
  process.stderr.write(`\n${renderNative(native).join('\n')}\n`);
  emitReport(report, flags.out);
} catch (error) {
  benchFailed(error);
  await cleanups.cleanup();
}
