// Least privilege on the local stage: a function's DynamoDB call that shared/routes.ts does not grant
// is refused as AWS would refuse it (AccessDeniedException), so an under-declared grant fails here.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createTables } from '../../local/create-tables';
import { actionsOf, asFunction } from '../../local/grants';
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { createDynamoClient } from '../../shared/adapters/aws-clients';
import { ManagementApiGateway } from '../../shared/adapters/management-gateway';
import { SignedPoster } from '../../shared/adapters/signed-poster';
import { loadConfig, type TableNames, tableEnv } from '../../shared/config';
import { may, type FunctionDef } from '../../shared/routes';
import { EVENTS_BY_CREATED, eventsTable, limitsTable } from '../../shared/tables';

let raw: DynamoDBClient;
let names: TableNames;
let db: ReturnType<typeof createDynamoClient>;

/** A function that may only read events and count its rate limits. */
const reader: FunctionDef = {
  id: 'TestReader',
  entry: 'none',
  needs: {
    tables: [
      [eventsTable, may('GetItem')],
      [limitsTable, may('UpdateItem')],
    ],
  },
};

beforeAll(async () => {
  raw = new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
  names = await createTables(raw, `g${randomBytes(4).toString('hex')}`);
  // The client the handlers get, configured as the local stage configures them.
  db = createDynamoClient(
    loadConfig({
      ...tableEnv(names),
      LIVECAST_LOCAL: '1',
      LIVECAST_DYNAMODB_ENDPOINT: inject('dynamoEndpoint'),
      AWS_REGION: 'us-east-1',
    }),
  );
}, 60_000);

afterAll(() => raw?.destroy());

describe('a function on the local stage', () => {
  it('queries an index only when it declares that index: a Query grant on the table does not cover it, nor the reverse', async () => {
    const query = (def: FunctionDef, index?: string) =>
      asFunction(def, () =>
        db.send(
          new QueryCommand({
            TableName: names.events,
            ...(index
              ? {
                  IndexName: index,
                  KeyConditionExpression: 'listed = :l',
                  ExpressionAttributeValues: { ':l': 'events' },
                }
              : { KeyConditionExpression: 'eventId = :e', ExpressionAttributeValues: { ':e': 'e1' } }),
          }),
        ),
      );
    const tableQuerier: FunctionDef = {
      id: 'TestTableQuerier',
      entry: 'none',
      needs: { tables: [[eventsTable, may('Query')]] },
    };
    const indexQuerier: FunctionDef = {
      id: 'TestIndexQuerier',
      entry: 'none',
      needs: { tables: [], indexQueries: [[eventsTable, EVENTS_BY_CREATED]] },
    };
    await expect(query(tableQuerier, EVENTS_BY_CREATED.name)).rejects.toThrow(
      /TestTableQuerier is not granted dynamodb:Query on Events\/index\/byCreated/,
    );
    await expect(query(indexQuerier)).rejects.toThrow(/TestIndexQuerier is not granted dynamodb:Query on Events/);
    expect((await query(indexQuerier, EVENTS_BY_CREATED.name)).Items).toEqual([]);
    expect((await query(tableQuerier)).Items).toEqual([]);
  });

  it('may make the calls it declares', async () => {
    await asFunction(reader, async () => {
      expect((await db.send(new GetCommand({ TableName: names.events, Key: { eventId: 'e1' } }))).Item).toBeUndefined();
      await db.send(
        new UpdateCommand({
          TableName: names.limits,
          Key: { pk: 'k' },
          UpdateExpression: 'ADD n :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    });
  });

  it('is refused a call it does not declare, with AccessDeniedException, and nothing is written', async () => {
    const put = asFunction(reader, () =>
      db.send(new PutCommand({ TableName: names.events, Item: { eventId: 'e1', title: 'x' } })),
    );
    await expect(put).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(put).rejects.toThrow(/TestReader is not granted dynamodb:PutItem on Events/);
    const entries = asFunction(reader, () =>
      db.send(new GetCommand({ TableName: names.entries, Key: { eventId: 'e1', seq: 1 } })),
    );
    await expect(entries).rejects.toThrow(/not granted dynamodb:GetItem on Entries/);
    // Each item of a transaction needs its own action.
    const tx = asFunction(reader, () =>
      db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: names.limits,
                Key: { pk: 'k2' },
                UpdateExpression: 'ADD n :one',
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
            {
              ConditionCheck: {
                TableName: names.events,
                Key: { eventId: 'e1' },
                ConditionExpression: 'attribute_not_exists(eventId)',
              },
            },
          ],
        }),
      ),
    );
    await expect(tx).rejects.toThrow(/not granted dynamodb:ConditionCheckItem on Events/);
    expect((await db.send(new GetCommand({ TableName: names.events, Key: { eventId: 'e1' } }))).Item).toBeUndefined();
    expect((await db.send(new GetCommand({ TableName: names.limits, Key: { pk: 'k2' } }))).Item).toBeUndefined();
  });

  it("outside any function (the stage's own set-up, a test) nothing is checked", async () => {
    await db.send(new PutCommand({ TableName: names.events, Item: { eventId: 'e2', title: 'set-up' } }));
  });
});

it("names the IAM action of each command, lib-dynamodb's and the client's alike", () => {
  expect(actionsOf('GetCommand', { TableName: 't-Events' })).toEqual([['t-Events', 'dynamodb:GetItem']]);
  expect(actionsOf('QueryCommand', { TableName: 't-Changes' })).toEqual([['t-Changes', 'dynamodb:Query']]);
  expect(actionsOf('BatchGetCommand', { RequestItems: { 't-Entries': {} } })).toEqual([
    ['t-Entries', 'dynamodb:BatchGetItem'],
  ]);
  expect(
    actionsOf('TransactWriteItemsCommand', {
      TransactItems: [{ Put: { TableName: 'a' } }, { Delete: { TableName: 'b' } }],
    }),
  ).toEqual([
    ['a', 'dynamodb:PutItem'],
    ['b', 'dynamodb:DeleteItem'],
  ]);
  expect(actionsOf('CreateTableCommand', { TableName: 'a' })).toEqual([]);
});

describe("a function's @connections calls on the local stage", () => {
  /** May close connections (a route that cuts off a flooder) but not post to them. */
  const closer: FunctionDef = { id: 'TestCloser', entry: 'none', needs: { tables: [], manageConnections: ['DELETE'] } };
  const sdk = () => {
    const send = vi.fn(async () => ({}));
    return { send, gateway: new ManagementApiGateway({ send } as unknown as ApiGatewayManagementApiClient) };
  };

  it('may use the methods it declares', async () => {
    const { send, gateway } = sdk();
    await expect(asFunction(closer, () => gateway.close('c1'))).resolves.toBe('closed');
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('is refused a method it does not declare, as AWS refuses it (403 ForbiddenException), before anything is sent', async () => {
    const { send, gateway } = sdk();
    const post = asFunction(closer, () => gateway.post('c1', new TextEncoder().encode('{}')));
    await expect(post).rejects.toMatchObject({ name: 'ForbiddenException', $metadata: { httpStatusCode: 403 } });
    await expect(post).rejects.toThrow(/TestCloser is not granted execute-api:ManageConnections POST/);
    expect(send).not.toHaveBeenCalled();
    // The fan-out's lean poster is checked too (port 9 is discard: a request sent would not be refused this way).
    const poster = new SignedPoster({
      endpoint: 'http://127.0.0.1:9/local',
      region: 'us-east-1',
      credentials: async () => ({ accessKeyId: 'l', secretAccessKey: 'l' }),
    });
    await expect(asFunction(reader, () => poster.post('c1', new Uint8Array(2)))).rejects.toThrow(
      /TestReader is not granted execute-api:ManageConnections POST/,
    );
  });

  it('outside any function nothing is checked', async () => {
    const { send, gateway } = sdk();
    await expect(gateway.post('c1', new Uint8Array(2))).resolves.toBe('ok');
    expect(send).toHaveBeenCalledTimes(1);
  });
});
