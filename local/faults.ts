// Faults on purpose for the local stage — DynamoDB refusals and timeouts, worker environments
// killed mid-invocation — configured once here from the environment (docs/local-stage.md).
import { TABLES } from '../shared/config';
import { type DynamoFaultCounts, type DynamoFaults, dynamoFaultsFromEnv } from './dynamo-faults';

export interface StageFaults {
  /** DynamoDB faults for every handler and worker process (a proxy in front of DynamoDB Local). */
  dynamo?: DynamoFaults;
  /** Kill one worker environment that is running an invocation every this many ms (needs workerProcesses > 0). */
  killWorkersEveryMs?: number;
  /** Seeds the pick of the worker to kill. Unset: the DynamoDB faults' seed, or random. */
  seed?: number;
}

export interface FaultStats {
  /** What the DynamoDB proxy injected, and the seed it drew with; undefined without DynamoDB faults. */
  dynamo: (DynamoFaultCounts & { seed: number }) | undefined;
  /** Worker environments killed on purpose. */
  workersKilled: number;
}

export const killWorkersEnv = 'LIVECAST_FAULT_KILL_WORKERS_MS';

/** Table ids a fault setting may name (`Entries`, `Changes`…). */
export const tableIds: readonly string[] = Object.values(TABLES).map((t) => t.id);

/** The faults configured in the environment; undefined when none is. Throws, naming the variable, on a bad value. */
export function faultsFromEnv(env: NodeJS.ProcessEnv): StageFaults | undefined {
  const dynamo = dynamoFaultsFromEnv(env, tableIds);
  const raw = env[killWorkersEnv]?.trim();
  let killWorkersEveryMs: number | undefined;
  if (raw !== undefined && raw !== '') {
    killWorkersEveryMs = Number(raw);
    if (!/^\d+$/.test(raw) || killWorkersEveryMs <= 0)
      throw new Error(`${killWorkersEnv} must be a whole number of milliseconds > 0, got ${JSON.stringify(raw)}`);
  }
  if (!dynamo && killWorkersEveryMs === undefined) return undefined;
  return {
    ...(dynamo ? { dynamo } : {}),
    ...(killWorkersEveryMs !== undefined ? { killWorkersEveryMs } : {}),
    ...(dynamo?.seed !== undefined ? { seed: dynamo.seed } : {}),
  };
}
