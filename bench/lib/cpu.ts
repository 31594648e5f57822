import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined once it exited. */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } {
  const [cpuLine] = readFileSync('/proc/stat', 'utf8').split('\n');
  const values = (cpuLine ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Where the CPU went during one phase, in cores (1.0 = one core busy for the whole phase): each labelled process (or
 * group of processes, e.g. PostgreSQL's backends of one database: their sum), the bench driver itself, and the whole
 * machine (whatever is left is PostgreSQL and anything else running).
 */
export function startCpuAccount(processes: Record<string, number | readonly number[] | undefined>) {
  const wallStart = performance.now();
  const benchStart = process.cpuUsage();
  const machineStart = machineTicks();
  const pidsOf = (value: number | readonly number[] | undefined) =>
    value === undefined ? [] : typeof value === 'number' ? [value] : value;
  const starts = new Map<number, number | undefined>(
    Object.values(processes)
      .flatMap(pidsOf)
      .map((pid) => [pid, cpuSecondsOf(pid)]),
  );
  return {
    stop(): Record<string, number> {
      const wallS = (performance.now() - wallStart) / 1000;
      const cores = (seconds: number) => Math.round((seconds / wallS) * 100) / 100;
      const result: Record<string, number> = {};
      for (const [label, value] of Object.entries(processes)) {
        // A process counts if it ran at both ends of the phase (a group's members that came or went are left out).
        const used = pidsOf(value).flatMap((pid) => {
          const start = starts.get(pid);
          const end = cpuSecondsOf(pid);
          return start !== undefined && end !== undefined ? [end - start] : [];
        });
        if (used.length > 0) result[label] = cores(used.reduce((a, b) => a + b, 0));
      }
      const bench = process.cpuUsage(benchStart);
      result.bench = cores((bench.user + bench.system) / 1e6);
      const machine = machineTicks();
      const total = machine.total - machineStart.total;
      result.machine =
        total > 0 ? cores(((machine.busy - machineStart.busy) / total) * cpus().length * wallS) : 0;
      return result;
    },
  };
}

export type CpuAccount = ReturnType<typeof startCpuAccount>;

/**
 * The PostgreSQL backends serving these databases right now, by their process titles
 * (`postgres: [<cluster>: ]<user> <database> <client> <state>`): these databases' share of the server's CPU
 * (the shared WAL writer and checkpointer are not in it).
 */
export function postgresBackends(databases: readonly string[]): number[] {
  const wanted = new Set(databases);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const database = /^postgres: (?:\S+: )?\S+ (\S+) /.exec(title)?.[1];
      if (database !== undefined && wanted.has(database)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
