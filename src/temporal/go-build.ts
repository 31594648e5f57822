import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's scripts/ directory, from src/temporal/ and from dist/temporal/ alike. */
export const scriptsDir = fileURLToPath(new URL('../../scripts/', import.meta.url));

export function goIsAvailable(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

export interface BuildScriptOptions {
  /** Printed once when the build starts, e.g. "building the Temporal CLI from the Go module proxy". */
  what: string;
  /** What a person should expect, e.g. "about 2 minutes, once". */
  expect: string;
  env?: NodeJS.ProcessEnv;
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void;
  /** How often to say the build is still going (default 15 s). */
  progressEveryMs?: number;
}

/**
 * Runs one of the build scripts that compile Temporal binaries from the Go module proxy (they print the built
 * path(s) on stdout and `go`'s chatter on stderr). A first build takes minutes with nothing to show for it, so
 * a person sees one line saying what is happening and how long it takes, then an elapsed-time line every few
 * seconds (nothing at all when the script finds its binaries cached); the hundreds of "go: downloading" lines are kept back and shown only if the build fails.
 */
export async function runBuildScript(script: string, options: BuildScriptOptions): Promise<string> {
  const log = options.log ?? ((line: string) => console.error(line));
  const started = Date.now();
  // The scripts answer at once when the binaries are cached: say something only when a build is really running.
  let announced = false;
  const announce = setTimeout(() => {
    announced = true;
    log(`hookflow: ${options.what}, ${options.expect}...`);
  }, 1000);
  const child = spawn('bash', [script], {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  const progress = setInterval(
    () => log(`hookflow: still building (${Math.round((Date.now() - started) / 1000)} s)...`),
    options.progressEveryMs ?? 15_000,
  );
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  }).finally(() => {
    clearTimeout(announce);
    clearInterval(progress);
  });
  if (code !== 0) {
    throw new Error(
      `${options.what} failed (${script} exited with ${code}). Its last output:\n${stderr.trim().split('\n').slice(-30).join('\n')}`,
    );
  }
  if (announced) log(`hookflow: built in ${Math.round((Date.now() - started) / 1000)} s`);
  return stdout.trim();
}
