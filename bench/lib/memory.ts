import { readFileSync } from 'node:fs';

/** Resident memory of a process in MiB from /proc (Linux): current (VmRSS) and the kernel's own peak (VmHWM). */
export function readRss(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // exited
  }
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssMiB: round1(kib('VmRSS') / 1024), hwmMiB: round1(kib('VmHWM') / 1024) };
}

const round1 = (value: number) => Math.round(value * 10) / 10;

export interface MemoryFigures {
  /** RSS once the process is ready, before any load. */
  startMiB: number;
  /** Highest RSS the kernel saw (VmHWM), so a spike between samples is not missed. */
  peakMiB: number;
  /** RSS once the load is over and in-flight work drained. */
  afterMiB: number | null;
}

/**
 * Samples the RSS of a few labelled processes every `intervalMs`, so peaks and the sum of processes running
 * side by side (API + worker) can be reported.
 */
export function createMemorySampler(intervalMs = 250) {
  const tracked = new Map<string, { pid: number; figures: MemoryFigures }>();
  /** Highest simultaneous sum per group of labels, e.g. API + worker during the end-to-end load. */
  const sums = new Map<string, { labels: string[]; peakMiB: number }>();

  const sample = () => {
    const current = new Map<string, number>();
    for (const [label, entry] of tracked) {
      const reading = readRss(entry.pid);
      if (!reading) continue;
      current.set(label, reading.rssMiB);
      entry.figures.peakMiB = Math.max(entry.figures.peakMiB, reading.hwmMiB, reading.rssMiB);
    }
    for (const group of sums.values()) {
      if (!group.labels.every((label) => current.has(label))) continue;
      const total = group.labels.reduce((acc, label) => acc + (current.get(label) ?? 0), 0);
      group.peakMiB = Math.max(group.peakMiB, round1(total));
    }
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();

  return {
    /** Starts tracking a process that is ready now: its current RSS is its start figure. */
    track(label: string, pid: number | undefined): void {
      if (pid === undefined) return;
      const reading = readRss(pid);
      tracked.set(label, {
        pid,
        figures: { startMiB: reading?.rssMiB ?? 0, peakMiB: reading?.hwmMiB ?? 0, afterMiB: null },
      });
    },
    /** Tracks the simultaneous sum of these processes' RSS under `name`. */
    trackSum(name: string, labels: string[]): void {
      sums.set(name, { labels, peakMiB: 0 });
    },
    /** Records the "after load" figure of a process (call once its load ended and it settled). */
    markAfter(label: string): void {
      sample();
      const entry = tracked.get(label);
      if (entry) entry.figures.afterMiB = readRss(entry.pid)?.rssMiB ?? null;
    },
    report() {
      sample();
      return {
        processes: Object.fromEntries([...tracked].map(([label, entry]) => [label, entry.figures])),
        sums: Object.fromEntries(
          [...sums].map(([name, group]) => [name, { processes: group.labels, peakMiB: group.peakMiB }]),
        ),
      };
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

export type MemorySampler = ReturnType<typeof createMemorySampler>;
