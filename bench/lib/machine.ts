// What the numbers were measured on: CPU, memory, Node, the git commit (and whether the tree had local changes).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from './child';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  openFilesLimit: string;
  gitCommit: string;
  gitDirtyFiles: number;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function openFilesLimit(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    openFilesLimit: openFilesLimit(),
    gitCommit: git(['rev-parse', 'HEAD']) || 'unknown',
    gitDirtyFiles: git(['status', '--porcelain']).split('\n').filter(Boolean).length,
  };
}
