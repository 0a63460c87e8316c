// DynamoDB faults on purpose: the proxy in front of DynamoDB Local answers as DynamoDB does (the
// real SDK client parses each answer into its exception class and retries what it should), refuses
// before the table is touched (except timeout-after-commit), keeps to its tables, operations and
// seed, and counts what it injected.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  QueryCommand,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type DynamoFaultKind,
  DynamoFaultPlan,
  ItemContention,
  type DynamoFaultProxy,
  type DynamoFaults,
  dynamoFaultsFromEnv,
  startDynamoFaultProxy,
} from '../../local/dynamo-faults';
import { faultsFromEnv, tableIds } from '../../local/faults';

const upstream = inject('dynamoEndpoint');
const prefix = `f${randomBytes(4).toString('hex')}`;
const ENTRIES = `${prefix}-Entries`;
const EVENTS = `${prefix}-Events`;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

const direct = new DynamoDBClient({ endpoint: upstream, region: 'us-east-1', credentials });
const proxies: DynamoFaultProxy[] = [];
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  for (const TableName of [ENTRIES, EVENTS]) {
    await direct.send(
      new CreateTableCommand({
        TableName,
        KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});
afterAll(() => direct.destroy());

async function proxy(faults: DynamoFaults): Promise<DynamoFaultProxy> {
  const p = await startDynamoFaultProxy({ upstream, faults, log: () => {} });
  proxies.push(p);
  return p;
}

/** The real client through the proxy; one attempt unless told, so each answer is seen as it is. */
function client(p: DynamoFaultProxy, opts: { maxAttempts?: number; requestTimeout?: number } = {}): DynamoDBClient {
  const c = new DynamoDBClient({
    endpoint: p.endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: opts.maxAttempts ?? 1,
    // Without throwOnRequestTimeout the handler only warns when requestTimeout passes, and waits on.
    requestHandler: new NodeHttpHandler({ requestTimeout: opts.requestTimeout ?? 10_000, throwOnRequestTimeout: true }),
  });
  clients.push(c);
  return c;
}

const key = () => randomBytes(6).toString('hex');
const put = (TableName: string, k: string) => new PutItemCommand({ TableName, Item: { k: { S: k } } });
const stored = async (TableName: string, k: string) =>
  (await direct.send(new GetItemCommand({ TableName, Key: { k: { S: k } }, ConsistentRead: true }))).Item !== undefined;

const only = (kind: DynamoFaultKind, extra: Partial<DynamoFaults> = {}): DynamoFaults => ({
  share: 1,
  kinds: [kind],
  seed: 1,
  ...extra,
});

describe('DynamoDB fault proxy: what the SDK client sees', () => {
  it('throughput: ProvisionedThroughputExceededException, with a throttling reason naming the table; nothing written', async () => {
    const c = client(await proxy(only('throughput')));
    const k = key();
    const err = await c.send(put(ENTRIES, k)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect((err as ProvisionedThroughputExceededException).$metadata.httpStatusCode).toBe(400);
    expect((err as ProvisionedThroughputExceededException).ThrottlingReasons?.[0]?.resource).toMatch(
      new RegExp(`table/${ENTRIES}$`),
    );
    expect(await stored(ENTRIES, k)).toBe(false);
  });

  it('throttling: ThrottlingException; nothing written', async () => {
    const c = client(await proxy(only('throttling')));
    const k = key();
    await expect(c.send(put(ENTRIES, k))).rejects.toBeInstanceOf(ThrottlingException);
    expect(await stored(ENTRIES, k)).toBe(false);
  });

  it('internal: a 500 InternalServerError; nothing written', async () => {
    const c = client(await proxy(only('internal')));
    const k = key();
    const err = await c.send(put(ENTRIES, k)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalServerError);
    expect((err as InternalServerError).$metadata.httpStatusCode).toBe(500);
    expect(await stored(ENTRIES, k)).toBe(false);
  });

  it('conflict on TransactWriteItems: TransactionCanceledException, TransactionConflict on the chosen table’s item, None elsewhere; nothing written', async () => {
    const c = client(await proxy(only('conflict', { tables: ['Entries'] })));
    const [a, b] = [key(), key()];
    const err = await c
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: EVENTS, Item: { k: { S: a } } } },
            { Put: { TableName: ENTRIES, Item: { k: { S: b } } } },
          ],
        }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionCanceledException);
    expect((err as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'None',
      'TransactionConflict',
    ]);
    expect(await stored(EVENTS, a)).toBe(false);
    expect(await stored(ENTRIES, b)).toBe(false);
  });

  it('conflict on a single-item write: TransactionConflictException; reads are never given a conflict', async () => {
    const p = await proxy(only('conflict'));
    const c = client(p);
    const k = key();
    await expect(c.send(put(ENTRIES, k))).rejects.toBeInstanceOf(TransactionConflictException);
    expect(await stored(ENTRIES, k)).toBe(false);
    // A Query cannot conflict on AWS: with only conflicts allowed, it passes untouched.
    await expect(
      c.send(
        new QueryCommand({
          TableName: ENTRIES,
          KeyConditionExpression: 'k = :k',
          ExpressionAttributeValues: { ':k': { S: k } },
        }),
      ),
    ).resolves.toMatchObject({ Count: 0 });
    expect(p.stats()).toMatchObject({ calls: 2, injected: 1, byKind: { conflict: 1 } });
  });

  it('timeout: the client hears nothing and gives up at its own timeout; nothing written', async () => {
    // The default hold (15 s) outlasts the client's 300 ms.
    const c = client(await proxy(only('timeout')), { requestTimeout: 300 });
    const k = key();
    await expect(c.send(put(ENTRIES, k))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(await stored(ENTRIES, k)).toBe(false);
  });

  it('timeout with a short hold: the connection is cut without an answer; nothing written', async () => {
    const c = client(await proxy(only('timeout', { holdMs: 50 })));
    const k = key();
    await expect(c.send(put(ENTRIES, k))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(await stored(ENTRIES, k)).toBe(false);
  });

  it('timeout-after-commit: the write happened, the client never heard', async () => {
    const c = client(await proxy(only('timeout-after-commit', { holdMs: 50 })));
    const k = key();
    await expect(c.send(put(ENTRIES, k))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(await stored(ENTRIES, k)).toBe(true);
  });

  it('the SDK retries throttles, 500s and cut connections by itself (DynamoDB client: 4 attempts)', async () => {
    // Seeded: the plan says in advance which attempts fail; the client's attempt count must match.
    const faults: DynamoFaults = {
      share: 0.5,
      kinds: ['throughput', 'throttling', 'internal', 'timeout'],
      holdMs: 20,
      seed: 7,
    };
    const plan = new DynamoFaultPlan(faults);
    const c = client(await proxy(faults), { maxAttempts: 4 });
    let expectedAttempts = 0;
    let sawRetry = false;
    for (let i = 0; i < 12; i++) {
      // Attempts until the first pass, as the plan draws them (at most 4).
      let attempts = 0;
      let passed = false;
      while (attempts < 4 && !passed) {
        attempts++;
        passed = plan.decide('PutItem', ['Entries']).fault === undefined;
      }
      if (!passed) break; // the client would give up: stop here, the prediction holds to this point
      expectedAttempts += attempts;
      sawRetry ||= attempts > 1;
      const out = await c.send(put(ENTRIES, key()));
      expect(out.$metadata.attempts).toBe(attempts);
    }
    expect(sawRetry).toBe(true);
    expect(expectedAttempts).toBeGreaterThan(0);
  });
});

describe('DynamoDB fault proxy: what is eligible, and the counters', () => {
  it('faults only the chosen tables and operations, and counts by table and kind', async () => {
    const p = await proxy({ share: 1, tables: ['Entries'], operations: ['write'], kinds: ['throughput'], seed: 3 });
    const c = client(p);
    const k = key();
    await expect(c.send(put(EVENTS, k))).resolves.toBeDefined(); // another table
    await expect(c.send(new GetItemCommand({ TableName: ENTRIES, Key: { k: { S: k } } }))).resolves.toBeDefined(); // a read
    await expect(c.send(put(ENTRIES, k))).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    await expect(
      c.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: EVENTS, Item: { k: { S: key() } } } },
            { Put: { TableName: ENTRIES, Item: { k: { S: key() } } } },
          ],
        }),
      ),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(p.stats()).toEqual({
      calls: 4,
      injected: 2,
      byKind: { throughput: 2, throttling: 0, conflict: 0, internal: 0, timeout: 0, 'timeout-after-commit': 0 },
      byTable: { Entries: { throughput: 2 } },
      contended: {},
    });
  });

  it('injects about the share asked for, and the same calls again with the same seed', () => {
    const draw = (seed: number) => {
      const plan = new DynamoFaultPlan({ share: 0.2, seed });
      return Array.from({ length: 2000 }, () => plan.decide('UpdateItem', ['Events']).fault ?? '-');
    };
    const first = draw(42);
    expect(draw(42)).toEqual(first);
    expect(draw(43)).not.toEqual(first);
    const injected = first.filter((f) => f !== '-').length;
    expect(injected).toBeGreaterThan(320);
    expect(injected).toBeLessThan(480);
    // Every default kind comes up; timeout-after-commit only when asked for.
    expect(new Set(first)).toEqual(new Set(['-', 'throughput', 'throttling', 'conflict', 'internal', 'timeout']));
  });
});

describe('fault settings from the environment', () => {
  it('reads every setting, `throttle` standing for both throttling answers', () => {
    expect(
      faultsFromEnv({
        LIVECAST_FAULT_DDB_SHARE: '0.05',
        LIVECAST_FAULT_DDB_TABLES: 'Connections, Changes',
        LIVECAST_FAULT_DDB_KINDS: 'throttle,conflict,timeout',
        LIVECAST_FAULT_DDB_OPERATIONS: 'write,Query',
        LIVECAST_FAULT_DDB_HOLD_MS: '500',
        LIVECAST_FAULT_SEED: '9',
        LIVECAST_FAULT_KILL_WORKERS_MS: '2000',
      }),
    ).toEqual({
      dynamo: {
        share: 0.05,
        tables: ['Connections', 'Changes'],
        kinds: ['throughput', 'throttling', 'conflict', 'timeout'],
        operations: ['write', 'Query'],
        holdMs: 500,
        seed: 9,
      },
      killWorkersEveryMs: 2000,
      seed: 9,
    });
    expect(faultsFromEnv({})).toBeUndefined();
    expect(faultsFromEnv({ LIVECAST_FAULT_DDB_SHARE: '' })).toBeUndefined();
  });

  it.each([
    [{ LIVECAST_FAULT_DDB_SHARE: '5%' }, /LIVECAST_FAULT_DDB_SHARE must be a number/],
    [{ LIVECAST_FAULT_DDB_SHARE: '1.5' }, /LIVECAST_FAULT_DDB_SHARE must be a share between 0 and 1/],
    [
      { LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_DDB_TABLES: 'Entrys' },
      /LIVECAST_FAULT_DDB_TABLES must be table ids among Events, Entries/,
    ],
    [
      { LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_DDB_KINDS: 'throttle,explode' },
      /LIVECAST_FAULT_DDB_KINDS must be a list of throttle/,
    ],
    [
      { LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_DDB_OPERATIONS: 'Scan,Delete' },
      /LIVECAST_FAULT_DDB_OPERATIONS must be a list of read, write/,
    ],
    [
      { LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_DDB_HOLD_MS: '-1' },
      /LIVECAST_FAULT_DDB_HOLD_MS must be a number of milliseconds >= 0/,
    ],
    [{ LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_SEED: '1.5' }, /LIVECAST_FAULT_SEED must be an integer/],
    [{ LIVECAST_FAULT_DDB_TABLES: 'Entries' }, /LIVECAST_FAULT_DDB_TABLES needs LIVECAST_FAULT_DDB_SHARE/],
    [
      { LIVECAST_FAULT_KILL_WORKERS_MS: '0' },
      /LIVECAST_FAULT_KILL_WORKERS_MS must be a whole number of milliseconds > 0/,
    ],
    [{ LIVECAST_FAULT_KILL_WORKERS_MS: 'often' }, /LIVECAST_FAULT_KILL_WORKERS_MS must be a whole number/],
  ])('refuses %o with an error naming the variable', (env, message) => {
    expect(() => faultsFromEnv(env)).toThrow(message);
  });

  it('knows every table id of shared/tables.ts', () => {
    expect(tableIds).toEqual([
      'Events',
      'Entries',
      'Changes',
      'Requests',
      'Connections',
      'Delivery',
      'Reposts',
      'RepostCounts',
      'Limits',
      'Budget',
    ]);
    expect(
      dynamoFaultsFromEnv({ LIVECAST_FAULT_DDB_SHARE: '0.2', LIVECAST_FAULT_DDB_TABLES: 'RepostCounts' }, tableIds),
    ).toEqual({ share: 0.2, tables: ['RepostCounts'] });
  });
});

describe('DynamoDB fault proxy: contention (conflicts from the calls themselves, as DynamoDB has them)', () => {
  /** An upstream that holds every answer until let go, so a write is "in flight" for as long as a test needs. */
  async function heldUpstream() {
    const waiting: (() => void)[] = [];
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(String(req.headers['x-amz-target']).split('.')[1]!);
        waiting.push(() => res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}'));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen,
      /** Resolves once `n` calls wait at the upstream. */
      async arrived(n: number) {
        while (waiting.length < n) await new Promise((r) => setTimeout(r, 5));
      },
      letGo: () => waiting.splice(0).forEach((answer) => answer()),
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }

  const kS = (k: string) => ({ k: { S: k } });
  const tx = (...items: [table: string, k: string][]) =>
    new TransactWriteItemsCommand({
      TransactItems: items.map(([TableName, k], i) =>
        i % 2
          ? {
              Update: {
                TableName,
                Key: kS(k),
                UpdateExpression: 'SET n = :n',
                ExpressionAttributeValues: { ':n': { N: '1' } },
              },
            }
          : { Put: { TableName, Item: kS(k) } },
      ),
    });

  it('refuses a transaction or a plain write that meets an item a transaction in flight is writing; nothing else', async () => {
    const up = await heldUpstream();
    try {
      const p = await startDynamoFaultProxy({
        upstream: up.endpoint,
        faults: { share: 0, contention: ['Events'] },
        keyNamesOf: () => ['k'],
        log: () => {},
      });
      proxies.push(p);
      const c = client(p);
      // A: a transaction on the event's item, held at the table.
      const a = c.send(tx([ENTRIES, 'e1'], [EVENTS, 'hot']));
      await up.arrived(1);
      // B: another transaction on the same item → cancelled, TransactionConflict at that item.
      const b = await c.send(tx([ENTRIES, 'e2'], [EVENTS, 'hot'])).catch((e: unknown) => e);
      expect(b).toBeInstanceOf(TransactionCanceledException);
      expect((b as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
        'None',
        'TransactionConflict',
      ]);
      // A plain write of that item → TransactionConflictException.
      await expect(c.send(new PutItemCommand({ TableName: EVENTS, Item: kS('hot') }))).rejects.toBeInstanceOf(
        TransactionConflictException,
      );
      // Other items, and tables outside `contention` (Entries' e1 is held by A too), reach the table.
      const others = [c.send(put(EVENTS, 'cold')), c.send(tx([EVENTS, 'cold2'])), c.send(put(ENTRIES, 'e1'))];
      await up.arrived(4);
      up.letGo();
      await Promise.all([a, ...others]);
      // A has its answer: the item is free again.
      const again = c.send(tx([EVENTS, 'hot']));
      await up.arrived(1);
      up.letGo();
      await again;
      expect(up.seen).toEqual(['TransactWriteItems', 'PutItem', 'TransactWriteItems', 'PutItem', 'TransactWriteItems']);
      expect(p.stats()).toMatchObject({
        calls: 7,
        injected: 2,
        byKind: { conflict: 2 },
        byTable: { Events: { conflict: 2 } },
        contended: { Events: 2 },
      });
    } finally {
      await up.close();
    }
  });

  it('a plain write in flight holds nothing: a transaction on its item goes through (DynamoDB serializes those)', () => {
    const items = [{ table: EVENTS, key: 'hot' }];
    const contention = new ItemContention();
    const plain = contention.claim(false, items);
    expect(plain).toHaveProperty('release');
    const t1 = contention.claim(true, items);
    expect(t1).toHaveProperty('release');
    expect(contention.claim(true, items)).toEqual({ conflictAt: 0 });
    expect(contention.claim(false, [{ table: EVENTS, key: 'other' }, ...items])).toEqual({ conflictAt: 1 });
    if ('release' in t1) {
      t1.release();
      t1.release(); // once only
    }
    expect(contention.size()).toBe(0);
  });

  it('is read from LIVECAST_FAULT_DDB_CONTENTION, alone (no share drawn) or with a share; unknown tables refused', () => {
    expect(dynamoFaultsFromEnv({ LIVECAST_FAULT_DDB_CONTENTION: 'Events, Connections' }, tableIds)).toEqual({
      share: 0,
      contention: ['Events', 'Connections'],
    });
    expect(
      dynamoFaultsFromEnv({ LIVECAST_FAULT_DDB_SHARE: '0.1', LIVECAST_FAULT_DDB_CONTENTION: 'Events' }, tableIds),
    ).toEqual({ share: 0.1, contention: ['Events'] });
    expect(() => dynamoFaultsFromEnv({ LIVECAST_FAULT_DDB_CONTENTION: 'Event' }, tableIds)).toThrow(
      /LIVECAST_FAULT_DDB_CONTENTION must be table ids among Events/,
    );
  });
});
