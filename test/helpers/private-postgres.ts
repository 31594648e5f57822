import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { findFreePort } from '../../src/temporal/dev-server.js';

const run = promisify(execFile);

/**
 * A throw-away PostgreSQL cluster of one test's own (initdb into a temp dir, a free port on 127.0.0.1, trust
 * auth), so a test can stop and start PostgreSQL without touching the server other tests share. As root, the
 * server binaries run as the `postgres` OS user, since PostgreSQL refuses to run as root.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** Stops the server (fast shutdown: open sessions are terminated, as in a real restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it for good and deletes its files. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Where initdb and pg_ctl live: PG_BINDIR, `pg_config --bindir`, PATH, then Debian's /usr/lib/postgresql/<n>/bin. */
export function findPostgresBinDir(): string {
  const hasInitdb = (dir: string) => {
    try {
      accessSync(join(dir, 'initdb'), constants.X_OK);
      accessSync(join(dir, 'pg_ctl'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // no pg_config: look further
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean));
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  } catch {
    // not a Debian layout
  }
  const found = candidates.find(hasInitdb);
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl) not found; looked in: ${candidates.join(', ')}. ` +
        'Install the PostgreSQL server package or set PG_BINDIR.',
    );
  }
  return found;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const binDir = findPostgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'hookflow-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await findFreePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(binDir, tool), ...args]] : [join(binDir, tool), args];
  const exec = async (tool: string, args: string[], timeoutMs = 60_000) => {
    const [file, argv] = command(tool, args);
    try {
      await run(file, argv, { timeout: timeoutMs, cwd: dir });
    } catch (error) {
      let log = '';
      try {
        log = execFileSync('tail', ['-n', '30', logFile], { encoding: 'utf8' });
      } catch {
        // no log yet
      }
      throw new Error(`${tool} ${args.join(' ')} failed: ${String(error)}\n${log}`, { cause: error });
    }
  };

  // fsync off and no WAL niceties: the cluster lives for one test.
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-k ${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
  ].join(' ');
  const start = () =>
    exec('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '30', '-o', serverOptions]);
  const stop = (mode: 'fast' | 'immediate') =>
    exec('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '30']);

  let destroyed = false;
  const stopNow = () => {
    // A test process that exits without its teardown (a hook timeout, say) must not leave a server running.
    if (destroyed) return;
    try {
      const [file, argv] = command('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate']);
      execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already stopped
    }
  };
  process.once('exit', stopNow);

  await exec('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => stop('fast'),
    start,
    async destroy() {
      if (destroyed) return;
      await stop('immediate').catch(() => undefined);
      destroyed = true;
      process.removeListener('exit', stopNow);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
