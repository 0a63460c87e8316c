// The delivery worker's metrics: counts kept in memory and written as one EMF line per flush, delivery
// lag as one value per post carrying an update (Powertools writes 100 values a line). Flushed every
// `flushEveryMs` while the worker runs (an invocation lasts up to 13 minutes) and at its end.
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Message } from '../../shared/domain/delivery/change-feed';
import type { DeliveryObserver } from '../../shared/domain/delivery/worker';
import { Metric } from '../../shared/observability/names';

/** A minute: CloudWatch's finest standard resolution, so a flush more often would buy nothing. */
export const DELIVERY_FLUSH_MS = 60_000;

export interface DeliveryMetrics extends DeliveryObserver {
  /** Writes what is counted so far (nothing when nothing happened) and starts counting afresh. */
  flush(): void;
}

export function deliveryMetrics(
  metrics: Metrics,
  now: () => number,
  flushEveryMs = DELIVERY_FLUSH_MS,
): DeliveryMetrics {
  let posts = 0;
  let statsOnly = 0;
  let throttled = 0;
  let gone = 0;
  let abandoned = 0;
  let lagValues = 0;
  let flushedAt = now();

  function flush(): void {
    flushedAt = now();
    if (posts + throttled + gone + abandoned + lagValues === 0) return;
    metrics.addMetric(Metric.deliveryPosts, MetricUnit.Count, posts);
    metrics.addMetric(Metric.deliveryStatsOnlyPosts, MetricUnit.Count, statsOnly);
    if (posts > 0) metrics.addMetric(Metric.deliveryStatsShare, MetricUnit.Percent, (100 * statsOnly) / posts);
    metrics.addMetric(Metric.deliveryThrottled, MetricUnit.Count, throttled);
    metrics.addMetric(Metric.deliveryGone, MetricUnit.Count, gone);
    metrics.addMetric(Metric.deliveryAbandoned, MetricUnit.Count, abandoned);
    metrics.publishStoredMetrics();
    posts = statsOnly = throttled = gone = abandoned = lagValues = 0;
  }
  const tick = () => {
    if (now() - flushedAt >= flushEveryMs) flush();
  };

  return {
    posted(message: Message, acceptedAt: number) {
      posts++;
      if (message.statsOnly) statsOnly++;
      if (message.committedAt !== undefined) {
        // Clocks of two machines: a negative lag is skew, not news from the future.
        metrics.addMetric(Metric.deliveryLag, MetricUnit.Milliseconds, Math.max(0, acceptedAt - message.committedAt));
        lagValues++;
      }
      tick();
    },
    throttled() {
      throttled++;
      tick();
    },
    gone() {
      gone++;
      tick();
    },
    abandoned() {
      abandoned++;
      tick();
    },
    flush,
  };
}
