// BudgetLedgerStore on DynamoDB: the account's delivery workers' registrations, spread over a few
// partitions that every refresh reads (one Query each, in parallel).
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BudgetLedgerStore, BudgetRegistration } from '../domain/ports';
import { BUDGET_LEDGER_PARTITIONS } from '../tables';
import { queryItems } from './dynamo-paging';

/** The ledger partition a registration lives in: a stable hash of its key (FNV-1a). */
export function ledgerPartition(key: string, partitions = BUDGET_LEDGER_PARTITIONS): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return `ledger#${(h >>> 0) % partitions}`;
}

export class DynamoBudgetLedger implements BudgetLedgerStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly partitions = BUDGET_LEDGER_PARTITIONS,
  ) {}

  async register(r: BudgetRegistration, expiresAt: number): Promise<void> {
    // Unconditional: one worker holds a shard (its lease), and a heartbeat is the latest word.
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: ledgerPartition(r.key, this.partitions),
          sk: r.key,
          owner: r.owner,
          rows: r.rows,
          beatAt: r.beatAt,
          since: r.since,
          // TTL tidies up in its own time (days, at worst); readers judge a registration by beatAt.
          expiresAt: Math.ceil(expiresAt / 1_000) + 60,
        },
      }),
    );
  }

  async registrations(): Promise<BudgetRegistration[]> {
    // Eventually consistent (half the price): the domain waits settleMs before a rise for this lag.
    const reads = Array.from({ length: this.partitions }, async (_, n) => {
      const found: BudgetRegistration[] = [];
      for await (const item of queryItems(this.db, {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `ledger#${n}` },
      })) {
        const { sk, owner, rows, beatAt, since } = item;
        if (typeof sk !== 'string' || typeof rows !== 'number' || typeof beatAt !== 'number') continue;
        found.push({ key: sk, owner: String(owner), rows, beatAt, since: typeof since === 'number' ? since : beatAt });
      }
      return found;
    });
    return (await Promise.all(reads)).flat();
  }

  async deregister(key: string, owner: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: ledgerPartition(key, this.partitions), sk: key },
          // A successor's registration is not this worker's to take out.
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}
