// Creates the tables on DynamoDB Local from the same definitions the CDK stack uses.
import {
  type AttributeDefinition,
  CreateTableCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLES, type TableNames } from '../shared/config';
import { type TableDef, tables } from '../shared/tables';

export type { TableNames };

/** Physical names for a stage: `<prefix>-<Id>`, so several stages can share one DynamoDB Local. */
export function tableNames(prefix: string): TableNames {
  return Object.fromEntries(Object.entries(TABLES).map(([k, def]) => [k, `${prefix}-${def.id}`])) as TableNames;
}

export async function createTables(client: DynamoDBClient, prefix: string): Promise<TableNames> {
  for (const def of tables as readonly TableDef[]) {
    const TableName = `${prefix}-${def.id}`;
    const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
    const KeySchema: KeySchemaElement[] = keys.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? 'HASH' : 'RANGE' }));
    const AttributeDefinitions: AttributeDefinition[] = keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type }));
    try {
      await client.send(
        new CreateTableCommand({
          TableName,
          KeySchema,
          AttributeDefinitions,
          BillingMode: 'PAY_PER_REQUEST',
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
    }
  }
  return tableNames(prefix);
}
