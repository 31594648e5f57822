import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';
import { workflowsPath } from '../../src/temporal/worker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/**
 * One real Temporal dev server (in memory, headless, free port) and one workflow bundle for the whole
 * integration run. No binary means a loud failure, never a skip: tests that need Temporal cannot pass without it.
 */
export default async function setup(project: TestProject) {
  const cliPath = await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH || undefined });
  const started = Date.now();
  const server = await startDevServer({ cliPath, port: 0, uiPort: 0 });
  console.log(
    `[integration] Temporal dev server ${cliPath} up on ${server.address} in ${Date.now() - started} ms`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'hookflow-test-'));
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  writeFileSync(workflowBundlePath, code);

  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', workflowBundlePath);

  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
