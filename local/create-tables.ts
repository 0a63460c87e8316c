// Creates the tables on DynamoDB Local from the same definitions the CDK stack uses.
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLES, type TableNames } from '../shared/config';
import { type IndexDef, type TableDef, tables } from '../shared/tables';

export type { TableNames };

/** Physical names for a stage: `<prefix>-<Id>`, so several stages can share one DynamoDB Local. */
export function tableNames(prefix: string): TableNames {
  return Object.fromEntries(Object.entries(TABLES).map(([k, def]) => [k, `${prefix}-${def.id}`])) as TableNames;
}

export async function createTables(client: DynamoDBClient, prefix: string): Promise<TableNames> {
  for (const def of tables as readonly TableDef[]) await createTable(client, prefix, def);
  return tableNames(prefix);
}

/** One table of a stage: created, or brought up to its definition (stream, indexes) when kept from an earlier run. */
export async function createTable(client: DynamoDBClient, prefix: string, def: TableDef): Promise<void> {
  {
    const TableName = `${prefix}-${def.id}`;
    const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
    const KeySchema: KeySchemaElement[] = keys.map((k, i) => ({
      AttributeName: k.name,
      KeyType: i === 0 ? 'HASH' : 'RANGE',
    }));
    const indexKeys = (def.indexes ?? []).flatMap((i) => [i.partitionKey, ...(i.sortKey ? [i.sortKey] : [])]);
    const AttributeDefinitions: AttributeDefinition[] = [
      ...new Map([...keys, ...indexKeys].map((k) => [k.name, k])).values(),
    ].map((k) => ({
      AttributeName: k.name,
      AttributeType: k.type,
    }));
    try {
      await client.send(
        new CreateTableCommand({
          TableName,
          KeySchema,
          AttributeDefinitions,
          BillingMode: 'PAY_PER_REQUEST',
          ...(def.indexes?.length ? { GlobalSecondaryIndexes: def.indexes.map(indexSpec) } : {}),
          ...(def.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: def.stream } } : {}),
        }),
      );
      if (def.timeToLiveAttribute) {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName,
            TimeToLiveSpecification: { AttributeName: def.timeToLiveAttribute, Enabled: true },
          }),
        );
      }
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err; // kept from an earlier run: that is the point of .data/
      await matchStream(client, TableName, def);
      await addIndexes(client, TableName, def, AttributeDefinitions);
    }
  }
}

/**
 * A table kept from an earlier run whose stream has another view type than the definition now asks
 * (the Connections stream went from keys only to new and old images for the viewer count) gets a new
 * stream, as a deploy gives it on AWS: disabled, then enabled with the new type (a new stream ARN;
 * records of the old stream are not read again).
 */
async function matchStream(client: DynamoDBClient, TableName: string, def: TableDef): Promise<void> {
  if (!def.stream) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName }));
  const current = Table?.StreamSpecification?.StreamEnabled ? Table.StreamSpecification.StreamViewType : undefined;
  if (current === def.stream) return;
  if (current !== undefined)
    await client.send(new UpdateTableCommand({ TableName, StreamSpecification: { StreamEnabled: false } }));
  await client.send(
    new UpdateTableCommand({ TableName, StreamSpecification: { StreamEnabled: true, StreamViewType: def.stream } }),
  );
}

function indexSpec(index: IndexDef): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
      ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    Projection:
      index.nonKeyAttributes.length > 0
        ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.nonKeyAttributes] }
        : { ProjectionType: 'KEYS_ONLY' },
  };
}

/**
 * A table kept from an earlier run (.data/) gets the indexes added to its definition since, as a
 * deploy adds them on AWS (one UpdateTable each: DynamoDB takes one index creation at a time). Items
 * written before then are indexed only if they carry the index's keys: `npm run backfill-events`
 * (with LIVECAST_DYNAMODB_ENDPOINT) gives old events theirs. The index is usable once built (DynamoDB
 * Local: a moment alone, over a minute while other stages keep it busy; writes meanwhile have
 * failed with InternalFailure), so the stage does not wait for it or backfill at start.
 */
async function addIndexes(
  client: DynamoDBClient,
  TableName: string,
  def: TableDef,
  AttributeDefinitions: AttributeDefinition[],
): Promise<void> {
  if (!def.indexes?.length) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  for (const index of def.indexes) {
    if (present.has(index.name)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName,
        AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: indexSpec(index) }],
      }),
    );
  }
}
