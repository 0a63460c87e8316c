// Reads that go past DynamoDB's 1 MB pages. A Query or Scan stops at 1 MB whatever `Limit` says and
// returns `LastEvaluatedKey`; every read here follows it with lib-dynamodb's paginators, so no
// adapter reads a single page as if it were the whole answer.
import {
  type DynamoDBDocumentClient,
  paginateQuery,
  paginateScan,
  QueryCommand,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

export type Item = Record<string, unknown>;

/**
 * Up to `limit` items of a Query, fewer only when its key range has no more. Each page after the
 * first asks for just what is still missing, so the read never goes (or is billed) past `limit`.
 */
export async function queryUpTo(
  db: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>,
  limit: number,
  /** Start after this item's key (the table's and, on an index, the index's key attributes). */
  startAfter?: Item,
): Promise<Item[]> {
  const items: Item[] = [];
  if (limit <= 0) return items;
  const pages = paginateQuery(
    {
      client: db,
      ...(startAfter ? { startingToken: startAfter } : {}),
      // The paginator sends the same `Limit` every time; the remainder is what this read wants.
      withCommand: (command) =>
        new QueryCommand({ ...(command.input as QueryCommandInput), Limit: limit - items.length }),
    },
    { ...input },
  );
  for await (const page of pages) {
    items.push(...(page.Items ?? []));
    if (items.length >= limit) break;
  }
  return items;
}

/** Every page of a Query, in order (empty pages, which a filtered query may return, are skipped). */
export async function* queryPages(
  db: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): AsyncIterable<Item[]> {
  for await (const page of paginateQuery({ client: db }, { ...input })) {
    if (page.Items && page.Items.length > 0) yield page.Items;
  }
}

/** Every item a Query matches, in order. */
export async function* queryItems(
  db: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): AsyncIterable<Item> {
  for await (const items of queryPages(db, input)) yield* items;
}

/**
 * Every page of a Scan, empty ones included (a filtered Scan can read 1 MB and match nothing, and
 * the caller may want to stop between pages). Only for benchmarks and tools: never Scan on a request path.
 */
export async function* scanPages(
  db: DynamoDBDocumentClient,
  input: Omit<ScanCommandInput, 'ExclusiveStartKey'>,
): AsyncIterable<Item[]> {
  for await (const page of paginateScan({ client: db }, { ...input })) yield page.Items ?? [];
}
