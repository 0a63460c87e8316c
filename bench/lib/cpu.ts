// CPU time of this process and of DynamoDB Local's JVM (read from /proc), so a table can say which process a run was bound by.
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

/** utime + stime of `pid` in seconds, or NaN where /proc is not there. */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** The JVM that startDynamoLocal spawned: a direct child of this process named java. */
function dynamoPid(): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'java' && ppid === process.pid) return Number(entry);
    }
  } catch {
    // not Linux: no /proc
  }
  return undefined;
}

export interface CpuShares {
  /** Cores used on average while the span lasted. */
  self: number;
  dynamo: number;
  /** The local stage's worker environments (child processes), together; 0 when there are none. */
  workers: number;
  wallS: number;
}

/**
 * Starts a span; the returned function ends it and gives the average cores each process used.
 * `workerPids`: the stage's worker processes (Stage.workerPids()), read at both ends.
 */
export function cpuSpan(workerPids: readonly number[] = []): () => CpuShares {
  const pid = dynamoPid();
  const self0 = process.cpuUsage();
  const dyn0 = pid === undefined ? NaN : procCpuSeconds(pid);
  const workers0 = workerPids.map(procCpuSeconds);
  const t0 = performance.now();
  return () => {
    const wallS = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const dyn = pid === undefined ? NaN : procCpuSeconds(pid) - dyn0;
    // A worker process that exited meanwhile reads NaN and counts as 0.
    const workers = workerPids.reduce((sum, p, i) => sum + (procCpuSeconds(p) - workers0[i]! || 0), 0);
    return { self: (self.user + self.system) / 1e6 / wallS, dynamo: dyn / wallS, workers: workers / wallS, wallS };
  };
}
