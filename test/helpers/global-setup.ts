import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findTemporalCli, startDevServer } from '../../src/temporal/dev-server.js';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle.js';

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
  const workflowBundlePath = await writeWorkflowBundle(join(dir, 'workflow-bundle.js'));

  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', workflowBundlePath);

  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
