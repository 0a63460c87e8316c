// In-memory stores for running the real delivery worker against a sink: no DynamoDB, so the CPU measured is the worker's and its poster's.
import type {
  Change,
  ChangeLog,
  ConnectionRecord,
  ConnectionStore,
  LeaseStore,
  WorkerStarter,
} from '../../shared/domain/ports';

export class MemoryChanges implements ChangeLog {
  constructor(private readonly changes: Change[]) {}
  async changesAfter(_eventId: string, changeNo: number, limit: number): Promise<Change[]> {
    return this.changes.filter((c) => c.changeNo > changeNo).slice(0, limit);
  }
}

/** One shard holding every row, in pages the size DynamoDB's 1 MB pages give for these rows. */
export class MemoryConnections implements ConnectionStore {
  constructor(
    private readonly rows: ConnectionRecord[],
    private readonly pageSize = 1000,
  ) {}
  async add(): Promise<boolean> {
    return true;
  }
  async remove(): Promise<boolean> {
    return true;
  }
  async *listShard(): AsyncIterable<ConnectionRecord[]> {
    for (let i = 0; i < this.rows.length; i += this.pageSize) yield this.rows.slice(i, i + this.pageSize);
  }
}

export class MemoryLeases implements LeaseStore {
  async acquire() {
    return { cursor: undefined };
  }
  async renew() {
    return true;
  }
  async release() {}
  async held() {
    return new Set<number>();
  }
}

export const noSuccessor: WorkerStarter = { start: async () => {} };
