// `npx tsx bench/embedded.ts [--quick] [--out results.json] [--ceilings wal-normal,…|none] [--env NAME=value …]`
//
// Only the "Embedded default (npm start)" phases of `npm run bench` (bench/lib/embedded.ts): the ceilings of npm
// start's Temporal configuration (a dev server on a SQLite file) for the three SQLite settings, then npm start itself
// (`node --import tsx src/dev.ts`) on a fresh data directory. Prints one JSON document on stdout, a summary on
// stderr. Bounded by a deadline; everything started is stopped on success, failure, Ctrl-C or the deadline.
// To try a setting of npm start: `--env NAME=value` (repeatable) adds to its environment (recorded in the report), and
// `--ceilings wal-normal` (or `none`) measures fewer ceilings to save time.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findTemporalCli } from '../src/temporal/dev-server.js';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { startFakeResend } from '../test/helpers/fake-resend.js';
import { commitInfo } from './lib/commit.js';
import { embeddedProfile, measureEmbedded, SQLITE_SETTINGS, type SqliteSetting } from './lib/embedded.js';
import { renderEmbedded } from './lib/report.js';
import { benchCleanups, benchFailed, benchLog as log, emitReport, envFromFlags } from './lib/script.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    /** The SQLite settings whose ceilings are measured, comma separated, or `none` (default: all three). */
    ceilings: { type: 'string', default: SQLITE_SETTINGS.join(',') },
    /** NAME=value added to npm start's environment (repeatable). */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const ceilingSettings = flags.ceilings === 'none' ? [] : flags.ceilings.split(',');
for (const setting of ceilingSettings) {
  if (!(SQLITE_SETTINGS as readonly string[]).includes(setting)) {
    console.error(`--ceilings: ${setting} is not one of ${SQLITE_SETTINGS.join(', ')} (or none)`);
    process.exit(2);
  }
}
const npmStartEnv = envFromFlags(flags.env);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** About 3 min quick, 8 full on a quiet machine; the deadline leaves room for a busy, shared one. */
const deadlineS = flags.quick ? 480 : 1200;

const cleanups = benchCleanups({ deadlineS });

try {
  const startedAt = new Date();
  const loadAverageAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  if (loadAverageAtStart > 0.5)
    log(`warning: load average ${loadAverageAtStart} at start: other work is running, figures will be low`);
  const cliPath = await findTemporalCli({
    cliPath: process.env.TEMPORAL_CLI_PATH || undefined,
    allowDownload: false,
  });
  const dir = mkdtempSync(join(tmpdir(), 'hookflow-bench-embedded-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const ceilingBundle = join(dir, 'ceiling-workflows.js');
  await writeWorkflowBundle(ceilingBundle, join(repoRoot, 'bench/ceiling/workflows.ts'));
  const resend = await startFakeResend();
  cleanups.push(() => resend.close());
  const profile = embeddedProfile(flags.quick);
  const embedded = await measureEmbedded({
    profile,
    cliPath,
    workDir: dir,
    ceilingBundle,
    resend,
    runTag: randomBytes(4).toString('hex'),
    ceilingSettings: ceilingSettings as SqliteSetting[],
    npmStartEnv,
    log,
    onCleanup: (stop) => cleanups.push(stop),
  });
  await cleanups.cleanup();
  const report = {
    meta: {
      date: startedAt.toISOString(),
      commit: commitInfo(repoRoot),
      profile: flags.quick ? 'quick' : 'full',
      durationsS: profile,
      node: process.version,
      loadAverageAtStart,
    },
    embedded,
  };
  process.stderr.write(`\n${renderEmbedded(embedded).join('\n')}\n`);
  emitReport(report, flags.out);
} catch (error) {
  benchFailed(error);
  await cleanups.cleanup();
}
