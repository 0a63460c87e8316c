// The list prices the cost model multiplies by: us-east-1, public on-demand prices, first tier, no
// free tier, no savings plans. Checked on the date below; AWS changes them, so the date travels with them.

export const PRICES = {
  asOf: '2026-12-01',
  region: 'us-east-1',
  apiGatewayWebSocket: {
    /** Per message sent or received, metered in 32 KB increments (first billion a month). */
    perMillionMessages: 1.0,
    perMillionConnectionMinutes: 0.25,
  },
  lambda: {
    perMillionRequests: 0.2,
    /** arm64 (the stack's architecture), first 7.5 billion GB-s a month. */
    perGbSecond: 0.0000133334,
  },
  dynamodb: {
    /** On-demand capacity, standard table class (prices since November 2024). */
    perMillionWriteUnits: 0.625,
    perMillionReadUnits: 0.125,
    /** GetRecords by a Lambda trigger costs nothing (streams read by anything else: $0.02 a 100,000). */
    streamReadsByLambda: 0,
  },
  cloudWatch: {
    /** Logs ingested (standard class). */
    perGbLogsIngested: 0.5,
    /** A custom metric (name × dimensions) for a month, prorated by the hour; EMF lines are log ingestion besides. */
    perMetricMonth: 0.3,
  },
} as const;

/** The price table as printed by `npm run cost` and in docs/cost.md. */
export function priceRows(): [string, string][] {
  const p = PRICES;
  return [
    [
      'API Gateway WebSocket messages (32 KB units)',
      `$${p.apiGatewayWebSocket.perMillionMessages.toFixed(2)} / million`,
    ],
    [
      'API Gateway WebSocket connection-minutes',
      `$${p.apiGatewayWebSocket.perMillionConnectionMinutes.toFixed(2)} / million`,
    ],
    ['Lambda requests', `$${p.lambda.perMillionRequests.toFixed(2)} / million`],
    ['Lambda duration, arm64', `$${p.lambda.perGbSecond} / GB-s`],
    ['DynamoDB on-demand writes', `$${p.dynamodb.perMillionWriteUnits} / million WRU`],
    ['DynamoDB on-demand reads', `$${p.dynamodb.perMillionReadUnits} / million RRU`],
    ['DynamoDB Streams read by Lambda triggers', 'free'],
    ['CloudWatch Logs ingestion', `$${p.cloudWatch.perGbLogsIngested.toFixed(2)} / GB`],
    ['CloudWatch custom metrics', `$${p.cloudWatch.perMetricMonth.toFixed(2)} / metric-month (prorated hourly)`],
  ];
}
