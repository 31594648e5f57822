import type { BenchReport } from '../run.js';
import type { EmbeddedReport } from './embedded.js';
import type { LatencySummary, LoadResult } from './load.js';
import type { NativeReport } from './native.js';
import type { PairedSummary } from './paired.js';

const pad = (value: string, width: number) => value.padStart(width);
const fmt = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined ? '—' : value.toFixed(digits);
const pct = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : `${Math.round(value * 100)}%`;

/** CPU in cores by process, compactly: "cpu temporal 1.2 api 0.5 …". */
function cpuText(result: { cpuCores?: Record<string, number> }): string {
  if (!result.cpuCores) return '';
  return `cpu ${Object.entries(result.cpuCores)
    .map(([label, cores]) => `${label} ${cores.toFixed(2)}`)
    .join(' ')}`;
}

function row(label: string, result: LoadResult | undefined, latency?: LatencySummary, extra = ''): string {
  if (!result) return `  ${label.padEnd(44)} (not run)`;
  const l = latency ?? result.latencyMs;
  const bad = result.failed + result.errors;
  return (
    `  ${label.padEnd(44)}${pad(fmt(result.perSecond), 9)}${pad(fmt(l.p50), 9)}${pad(fmt(l.p95), 9)}` +
    `${pad(fmt(l.p99), 9)}${pad(String(bad), 8)}  ${[extra, cpuText(result)].filter(Boolean).join('; ')}`
  );
}

/** The same figures of the dev-server phases, to print beside the native ones (`npm run bench`). */
export interface DevServerFigures {
  rawStart: Record<string, LoadResult>;
  rawOneActivity: Record<string, LoadResult>;
  intake: Record<string, { ratioToRawStart: number | null }>;
  endToEnd: Record<string, { ratioToRawOneActivity: number | null }>;
}

/** The native topology's rows: each as a ratio to the native ceiling, with the dev server's ratio beside it. */
export function renderNative(native: NativeReport, dev?: DevServerFigures): string[] {
  const devText = (text: string | null) => (dev && text ? `dev server: ${text}` : '');
  const lines = [
    `Native topology (temporal-server on PostgreSQL, ${native.config.historyShards} history shards; ` +
      `set-up ${native.setupS.databases} s databases + ${native.setupS.server} s server)`,
  ];
  for (const [level, result] of Object.entries(native.ceilings.rawStartWorkflow)) {
    const devPerSecond = dev?.rawStart[level]?.perSecond;
    lines.push(
      row(
        `raw StartWorkflow, ${level.slice(1)} concurrent`,
        result,
        undefined,
        devText(devPerSecond === undefined ? null : `${fmt(devPerSecond)}/s`),
      ),
    );
  }
  for (const [level, result] of Object.entries(native.ceilings.rawOneActivity)) {
    const devPerSecond = dev?.rawOneActivity[level]?.perSecond;
    lines.push(
      row(
        `raw one-activity workflow, ${level.slice(1)} in flight`,
        result,
        undefined,
        devText(devPerSecond === undefined ? null : `${fmt(devPerSecond)}/s`),
      ),
    );
  }
  for (const [level, result] of Object.entries(native.webhookIntake)) {
    const devRatio = dev?.intake[level]?.ratioToRawStart;
    lines.push(
      row(
        `webhook intake, ${level.slice(1)} concurrent`,
        result,
        undefined,
        [
          `${pct(result.ratioToRawStart)} of raw start`,
          devText(devRatio === undefined ? null : pct(devRatio)),
        ]
          .filter(Boolean)
          .join(', '),
      ),
    );
  }
  for (const [level, result] of Object.entries(native.endToEnd)) {
    const devRatio = dev?.endToEnd[level]?.ratioToRawOneActivity;
    lines.push(
      row(
        `email, ${level.slice(1)} run(s) in flight`,
        result,
        undefined,
        [
          `${pct(result.ratioToRawOneActivity)} of raw one-activity`,
          devText(devRatio === undefined ? null : pct(devRatio)),
        ]
          .filter(Boolean)
          .join(', '),
      ),
    );
  }
  for (const [level, paired] of Object.entries(native.endToEndPaired))
    lines.push(...renderPaired(paired, `the native cluster, ${level.slice(1)} in flight`));
  for (const [label, figures] of Object.entries(native.memory.processes)) {
    lines.push(
      `  ${`RSS MiB ${label}`.padEnd(44)}${pad(fmt(figures.startMiB), 9)}${pad(fmt(figures.peakMiB), 9)}${pad(fmt(figures.afterMiB), 9)}`,
    );
  }
  for (const [name, sum] of Object.entries(native.memory.sums)) {
    lines.push(`  ${`RSS MiB ${name} (simultaneous peak)`.padEnd(44)}${pad(fmt(sum.peakMiB), 18)}`);
  }
  return lines;
}

/** One line per round and the median, for the stderr tables. */
function renderPaired(paired: PairedSummary, where: string): string[] {
  const cpu = (figures: Record<string, number>) =>
    Object.entries(figures)
      .map(([role, ms]) => `${role} ${fmt(ms)}`)
      .join(', ');
  return [
    ...paired.rounds.map(
      (pair, index) =>
        `  round ${index + 1} on ${where}: end to end ${fmt(pair.endToEnd?.perSecond)} /s ` +
        `(CPU ms per run: ${cpu(pair.cpuPerRunMs.endToEnd)}), ceiling ${fmt(pair.ceiling.perSecond)} runs/s ` +
        `(${cpu(pair.cpuPerRunMs.ceiling)}): ${pct(pair.ratio)}`,
    ),
    `  end to end ÷ the ceiling on ${where}: median ${pct(paired.medianRatio)} ` +
      `(${pct(paired.minRatio)}–${pct(paired.maxRatio)} over ${paired.rounds.length} rounds)`,
  ];
}

/** `npm start`'s rows, each as a ratio to the ceilings of the same server configuration measured in the same run. */
export function renderEmbedded(embedded: EmbeddedReport): string[] {
  const lines = [
    `Embedded default (npm start: ${embedded.config.command}, SQLite ${embedded.config.sqlite}; ` +
      `ready ${embedded.startupS} s after the spawn, stopped in ${embedded.stopS} s)`,
  ];
  for (const [setting, ceilings] of Object.entries(embedded.ceilings)) {
    const toChosen = embedded.sqliteToNpmStart[setting as keyof typeof embedded.sqliteToNpmStart];
    const note = (value: number | null | undefined) =>
      setting === embedded.config.sqlite ? '' : `${pct(value)} of npm start's`;
    for (const [level, result] of Object.entries(ceilings.rawStartWorkflow)) {
      lines.push(
        row(
          `ceiling ${setting}: raw start, ${level.slice(1)} concurrent`,
          result,
          undefined,
          note(toChosen?.rawStartWorkflow),
        ),
      );
    }
    for (const [level, result] of Object.entries(ceilings.rawOneActivity)) {
      lines.push(
        row(
          `ceiling ${setting}: one-activity, ${level.slice(1)} in flight`,
          result,
          undefined,
          [note(toChosen?.rawOneActivity), ceilings.walFileSeen ? 'WAL file seen' : 'no WAL file']
            .filter(Boolean)
            .join(', '),
        ),
      );
    }
  }
  const { localActivity } = embedded;
  if (localActivity.perSecond !== null)
    lines.push(
      `  one local activity instead (${embedded.config.sqlite}): ${fmt(localActivity.perSecond)} runs/s, ` +
        `${pct(localActivity.ratioToOneActivity)} of the one-activity ceiling`,
    );
  const { c1, c16 } = embedded.webhook;
  lines.push(
    row(
      'webhook, 1 caller (worker running)',
      c1,
      undefined,
      c1.rawStartC1LatencyMs ? `raw start at 1 caller: p50 ${fmt(c1.rawStartC1LatencyMs.p50)} ms` : '',
    ),
  );
  lines.push(row('webhook, 16 callers (worker running)', c16));
  for (const [level, result] of Object.entries(embedded.endToEnd)) {
    lines.push(
      row(
        `email, ${level.slice(1)} run(s) in flight (round 1)`,
        result,
        undefined,
        `${pct(result.ratioToRawOneActivity)} of raw one-activity on a fresh server (${embedded.config.sqlite})`,
      ),
    );
  }
  lines.push(...renderPaired(embedded.endToEndPaired, "npm start's dev server"));
  const { drain } = embedded;
  const { drainAfterIntake: after } = drain;
  lines.push(
    `  emails/s during the 16-caller intake ${fmt(drain.emailsDuringIntakePerSecond)}; the backlog of ` +
      `${after.backlogAtIntakeEnd} it left drained at ${fmt(after.perSecond)}/s in ${after.drainS} s` +
      `${after.complete ? '' : ` (INCOMPLETE: ${after.emailed}/${after.expected} emails)`}; during ÷ drain ${pct(drain.duringToDrain)}`,
  );
  const { maxSustainable } = embedded;
  lines.push(
    `  maximum sustainable rate ${maxSustainable.perSecond ?? '—'} webhooks/s` +
      `${maxSustainable.firstFailingPerSecond === null ? ' (no step failed)' : ` (${maxSustainable.firstFailingPerSecond}/s failed)`}; ` +
      `${maxSustainable.criteria}`,
  );
  for (const step of maxSustainable.steps) {
    lines.push(
      `    offered ${pad(String(step.offeredPerSecond), 4)}/s: sent ${fmt(step.sentPerSecond)}/s, accepted ` +
        `${fmt(step.acceptedPerSecond)}/s, webhook p99 ${fmt(step.webhookLatencyMs.p99, 0)} ms, hit → email p50 ` +
        `${fmt(step.hitToEmailMs.p50, 0)} / p99 ${step.p99Ms === null ? `> wait (${step.missing} missing)` : `${fmt(step.p99Ms, 0)}`} ms ` +
        `${step.passed ? 'PASS' : `FAIL (${step.failedBecause.join('; ')})`}; ${cpuText(step)}`,
    );
  }
  lines.push(
    `  RSS MiB, all processes together: ${fmt(embedded.memory.peakUnder64CallersMiB)} at peak under 64 callers; by phase:`,
  );
  for (const [phase, figures] of Object.entries(embedded.memory.phases)) {
    lines.push(
      `    ${phase.padEnd(42)}${pad(fmt(figures.peakSumMiB), 9)}  (${Object.entries(figures.peakByRoleMiB)
        .map(([role, mib]) => `${role} ${fmt(mib)}`)
        .join(', ')})`,
    );
  }
  lines.push(
    `    lifetime peak (VmHWM) by process: ${Object.entries(embedded.memory.lifetimePeakByRoleMiB)
      .map(([role, mib]) => `${role} ${fmt(mib)}`)
      .join(', ')}`,
  );
  lines.push(
    `  answers by status: ${Object.entries(embedded.answersByStatus)
      .map(([status, n]) => `${status} ×${n}`)
      .join(', ')}; warn/error lines logged: ${embedded.problemsLogged.lines}`,
  );
  for (const goal of embedded.goals) {
    lines.push(
      `  ${goal.met ? 'MET   ' : 'MISSED'} ${goal.name}: ${goal.actual ?? '—'} (target ${goal.target})`,
    );
  }
  return lines;
}

/** The human-readable summary printed after a run (the JSON holds everything). */
export function renderTable(report: BenchReport): string {
  const { meta, ceilings, webhookIntake, endToEnd, reads, login, memory, targets } = report;
  const lines: string[] = [];
  lines.push(
    `Hookflow bench — ${meta.date} — commit ${meta.commit} — ${meta.profile} profile — ${meta.cpus} CPUs, Node ${meta.node}`,
  );
  lines.push(
    `  ${''.padEnd(44)}${pad('per s', 9)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('p99 ms', 9)}${pad('non-2xx', 8)}`,
  );
  lines.push('Ceilings');
  lines.push(row('trivial Fastify route, 64 connections', ceilings.trivialHttp));
  for (const [level, result] of Object.entries(ceilings.rawStartWorkflow)) {
    lines.push(row(`raw StartWorkflow, ${level.slice(1)} concurrent`, result));
  }
  if (ceilings.rawStartWorkflowHookflowShapedC16) {
    lines.push(
      row("raw StartWorkflow, Hookflow's run shape, 16", ceilings.rawStartWorkflowHookflowShapedC16),
    );
  }
  for (const [level, result] of Object.entries(ceilings.rawOneActivity)) {
    lines.push(row(`raw one-activity workflow, ${level.slice(1)} in flight`, result));
  }
  lines.push('Webhook intake (POST /hooks/:token → 202)');
  for (const [level, result] of Object.entries(webhookIntake)) {
    lines.push(
      row(`${level.slice(1)} concurrent`, result, undefined, `${pct(result.ratioToRawStart)} of raw start`),
    );
  }
  lines.push(
    'End to end (webhook → email accepted by the fake, or → http step request received by the local target; latency hit → arrival)',
  );
  for (const [level, result] of Object.entries(endToEnd.closedLoop)) {
    lines.push(
      row(
        `email, ${level.slice(1)} run(s) in flight`,
        result,
        undefined,
        `${pct(result.ratioToRawOneActivity)} of raw one-activity`,
      ),
    );
    const http = endToEnd.httpStep.closedLoop[level];
    lines.push(
      row(
        `http step, ${level.slice(1)} run(s) in flight`,
        http,
        undefined,
        http && `${pct(http.ratioToRawOneActivity)} of raw one-activity, ${pct(http.ratioToEmail)} of email`,
      ),
    );
  }
  const { burst } = endToEnd;
  lines.push(
    `  burst of ${burst.runs}: intake ${fmt(burst.intakePerSecond)}/s (p99 ${fmt(burst.intakeLatencyMs.p99)} ms, ` +
      `${burst.rejected} rejected); drained ${burst.drainS} s after the last hit` +
      `${burst.drainedWithinLimit ? '' : ` (INCOMPLETE: ${burst.emailed}/${burst.runs} emails)`}; ` +
      `${fmt(burst.completedPerSecond)} runs/s overall; hit → email p50 ${fmt(burst.hitToEmailMs.p50, 0)} ms, ` +
      `p99 ${fmt(burst.hitToEmailMs.p99, 0)} ms; ${cpuText(burst)}`,
  );
  lines.push('Reads and login');
  lines.push(row('GET /v1/workflows, 16 connections', reads));
  lines.push(
    `  argon2id verify (in process): p50 ${fmt(login.argon2VerifyMs.p50)} ms, max ${fmt(login.argon2VerifyMs.max)} ms`,
  );
  for (const [level, result] of Object.entries(login.http)) {
    lines.push(row(`POST /v1/auth/login, ${level.slice(1)} concurrent`, result));
  }
  lines.push('Memory (RSS MiB: start / peak / after load)');
  for (const [label, figures] of Object.entries(memory.processes)) {
    lines.push(
      `  ${label.padEnd(44)}${pad(fmt(figures.startMiB), 9)}${pad(fmt(figures.peakMiB), 9)}${pad(fmt(figures.afterMiB), 9)}`,
    );
  }
  for (const [name, sum] of Object.entries(memory.sums)) {
    lines.push(`  ${`${name} (simultaneous peak)`.padEnd(44)}${pad(fmt(sum.peakMiB), 18)}`);
  }
  if (report.embedded) {
    lines.push(...renderEmbedded(report.embedded));
    const { embeddedToInMemory } = report.embedded;
    lines.push(
      `  npm start's ceilings ÷ the in-memory dev server's: raw start ${pct(embeddedToInMemory.rawStartWorkflow)}, ` +
        `one-activity ${pct(embeddedToInMemory.rawOneActivity)}`,
    );
  }
  if (report.native) {
    lines.push(
      ...renderNative(report.native, {
        rawStart: ceilings.rawStartWorkflow,
        rawOneActivity: ceilings.rawOneActivity,
        intake: webhookIntake,
        endToEnd: endToEnd.closedLoop,
      }),
    );
  }
  lines.push('Targets');
  for (const target of targets) {
    lines.push(
      `  ${target.met ? 'MET   ' : 'MISSED'} ${target.name}: ${target.actual ?? '—'} (target ${target.target})`,
    );
  }
  return lines.join('\n');
}
