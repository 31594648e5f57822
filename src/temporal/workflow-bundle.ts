// Workflow bundles written to a file: for `npm start` (in a child process, bundleInChildProcess, so that webpack's
// memory is returned to the system when the child exits instead of staying in the long-lived process that holds the
// API, the worker and PGlite), for the tests' global setup and for the bench. Run as a script, it writes the bundle
// to the file given as its only argument.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from './worker.js';

const thisFile = fileURLToPath(import.meta.url);

/**
 * Writes a fresh workflow bundle to `outFile` from a child Node process (same loader as this one: tsx from source)
 * and resolves with its path; rejects with the child's output when it fails. Always rebuilt: a stale bundle would run
 * old workflow code against new activities.
 */
export function bundleInChildProcess(outFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, thisFile, outFile],
      { env: process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`bundling the workflow code failed:\n${stderr || stdout}`, { cause: error }));
        else resolve(outFile);
      },
    );
  });
}

/** Bundles the workflows at `path` (default: Hookflow's) with webpack, quietly, into `outFile`; returns `outFile`. */
export async function writeWorkflowBundle(outFile: string, path = workflowsPath()): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: path, logger: quietLogger });
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, code);
  return outFile;
}

/** webpack's progress lines say nothing its callers do not; errors still show. */
const ignore = () => undefined;
const quietLogger = {
  log: ignore,
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: console.error,
};

if (process.argv[1] === thisFile) {
  const outFile = process.argv[2];
  if (!outFile) throw new Error('usage: workflow-bundle.ts <output file>');
  await writeWorkflowBundle(outFile);
}
