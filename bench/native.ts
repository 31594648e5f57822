// `npx tsx bench/native.ts [-- --quick] [--shards N] [--dynamic-config file.yaml] [--out results.json]`
//
// Only the native-topology phases of `npm run bench` (bench/lib/native.ts), for tuning the Temporal server: each run
// creates its own databases (so any shard count can be tried) and can point the server at another dynamic config
// without touching the shipped file. Prints one JSON document on stdout, a summary on stderr.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { startFakeResend } from '../test/helpers/fake-resend.js';
import { measureNative, nativeProfile, STACK_DEFAULT_HISTORY_SHARDS } from './lib/native.js';
import { renderNative } from './lib/report.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    shards: { type: 'string', default: String(STACK_DEFAULT_HISTORY_SHARDS) },
    'dynamic-config': { type: 'string' },
    out: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  while (cleanups.length > 0)
    await cleanups
      .pop()?.()
      .catch((error: unknown) => log(`cleanup: ${String(error)}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

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
    extraEnv: {},
    dist: false,
    log,
    onCleanup: (stop) => cleanups.push(stop),
  });
  await cleanup();
  const report = { meta: { date: new Date().toISOString(), loadAverageAtStart }, native };
  process.stderr.write(`\n${renderNative(native).join('\n')}\n`);
  const json = JSON.stringify(report, null, 2);
  if (flags.out) writeFileSync(flags.out, `${json}\n`);
  process.stdout.write(`${json}\n`);
} catch (error) {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await cleanup();
  process.exitCode = 1;
}
