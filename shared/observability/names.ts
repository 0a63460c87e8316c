// The names the code's metrics are published under and the alarms and dashboard read: one list, so a
// renamed metric breaks a test rather than silently leaving an alarm watching nothing.
//
// Every custom metric is an embedded-metric-format log line (Powertools Metrics), in METRIC_NAMESPACE,
// with exactly the dimensions { service: METRIC_SERVICE, stage: <the stage's name> }.

export const METRIC_NAMESPACE = 'Livecast';
/** Powertools' `service` dimension (and the Logger's `service` key): one for the whole backend. */
export const METRIC_SERVICE = 'livecast';
/** The environment variable that names the stage (dev, prod, local) for the `stage` dimension. */
export const STAGE_ENV = 'LIVECAST_STAGE';

export const Metric = {
  /** Delivery worker: posts accepted by the @connections API (Count). */
  deliveryPosts: 'DeliveryPosts',
  /** …of which carried only live counts (stats), nothing new (Count). */
  deliveryStatsOnlyPosts: 'DeliveryStatsOnlyPosts',
  /** Share of the invocation's posts that were live counts only (Percent). */
  deliveryStatsShare: 'DeliveryStatsShare',
  /** 429s from the @connections API (Count). */
  deliveryThrottled: 'DeliveryThrottled',
  /** 410s: connections found gone (Count). */
  deliveryGone: 'DeliveryGone',
  /** Connections given up after repeated failures (Count). */
  deliveryAbandoned: 'DeliveryAbandoned',
  /** Change committed → post accepted, one value per post of an update (Milliseconds; p50/p99 in CloudWatch). */
  deliveryLag: 'DeliveryLag',
  /** publish: frame received → ack returned (Milliseconds). */
  ackLatency: 'AckLatency',
  /** Repost tally: reposts counted (Count). */
  repostsCounted: 'RepostsCounted',
  /** Repost tally: stream record written → counted (Milliseconds). */
  tallyLag: 'TallyLag',
} as const;

export type MetricName = (typeof Metric)[keyof typeof Metric];
