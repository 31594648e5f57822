import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A program that must not outlive the Node process that started it (the Temporal dev server under `npm start`, the
 * servers and Hookflow processes under `npm run start:stack`).
 *
 * Why a shell wrapper: Node cannot ask the kernel to kill a child when the parent dies. The wrapper holds a pipe from
 * us on its stdin; when we exit for any reason (Ctrl-C, SIGTERM, a crash, even SIGKILL) the pipe closes, the reader
 * returns and the wrapper stops the program. It also exits, with the program's status, when the program exits on its
 * own, and it reports the program's pid on fd 3 so a fault test can signal the program itself.
 */
const WATCHDOG_SCRIPT = [
  'exec 4<&0', // an asynchronous list gets /dev/null as stdin: keep our pipe on fd 4 for the reader below
  '"$@" </dev/null 3>&- 4<&- &', // the program gets neither our pipe nor the pid channel
  'program=$!',
  'echo "$program" >&3',
  'exec 3>&-',
  'trap \'kill -TERM "$program" 2>/dev/null\' TERM INT HUP',
  '{ read -r _ignored <&4; kill -TERM "$program" 2>/dev/null; } &',
  'reader=$!',
  // `wait` returns early when a trapped signal arrives: wait again until the program is really gone.
  'while :; do wait "$program"; status=$?; kill -0 "$program" 2>/dev/null || break; done',
  'kill "$reader" 2>/dev/null',
  'exit "$status"',
].join('\n');

export interface SupervisedProcess {
  name: string;
  /** The program's own pid (not the wrapper's), once it started. */
  pid(): Promise<number>;
  /** The program's exit status (a signal's is 128 + its number), once it exited. */
  exited: Promise<number | null>;
  hasExited(): boolean;
  /** The last 20 kB the program printed (stdout and stderr), for error messages. */
  output(): string;
  /** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  /** Signals the program directly, as a crash or an operator would (fault tests). */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface SupervisedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with every non-empty line the program prints. */
  log?: (line: string) => void;
}

export function startSupervised(
  name: string,
  command: string,
  args: string[],
  options: SupervisedOptions = {},
): SupervisedProcess {
  const child = spawn('sh', ['-c', WATCHDOG_SCRIPT, `${name}-watchdog`, command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    // A process group of its own: Ctrl-C in a terminal (SIGINT to the foreground group) reaches only the Node process,
    // which stops its children in order (the API before the workers, the workers before the server they talk to),
    // instead of every program racing to exit at once.
    detached: true,
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let output = '';
  let partial = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    if (!options.log) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) options.log(line);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exitStatus: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitStatus = code ?? (signal ? 128 : null);
      resolve(exitStatus);
    }),
  );
  const pidPipe = child.stdio[3] as Readable;
  const pid = new Promise<number>((resolve, reject) => {
    let text = '';
    pidPipe.on('data', (chunk: Buffer) => (text += chunk.toString()));
    pidPipe.once('end', () => {
      const value = Number.parseInt(text.trim(), 10);
      if (Number.isInteger(value) && value > 0) resolve(value);
      else reject(new Error(`${name} did not start (${command}): ${output.trim()}`));
    });
  });
  pid.catch(() => undefined); // read only by callers that need it

  const hasExited = () => exitStatus !== undefined;
  return {
    name,
    pid: () => pid,
    exited,
    hasExited,
    output: () => output,
    async stop(graceMs = 10_000) {
      if (hasExited()) return;
      child.stdin.end(); // the wrapper's cue: it sends the program SIGTERM
      const timeout = sleep(graceMs).then(() => 'timeout' as const);
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        signalProgram(await pid, 'SIGKILL');
        await exited;
      }
    },
    async kill(signal) {
      if (hasExited()) return;
      signalProgram(await pid, signal);
    },
  };
}

function signalProgram(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // gone already: nothing to do
  }
}
