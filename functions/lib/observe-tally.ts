// The repost tally's metrics: reposts counted, and each one's lag behind the stream.
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StreamedRepost } from '../../shared/domain/ports';
import { Metric } from '../../shared/observability/names';

/**
 * One batch's tally: RepostsCounted (0 included, so a quiet batch is a data point, not a gap) and a
 * TallyLag value per repost of the events tallied. The lag counts from the repost's `at` (the
 * server's clock when it stored the row, in ms): the stream record's ApproximateCreationDateTime
 * is whole seconds on AWS and whole minutes in DynamoDB Local, too coarse for a lag of milliseconds.
 */
export function tallyMetrics(metrics: Metrics, now: () => number) {
  let counted = 0;
  return {
    // Arrows: they are handed on unbound (tallyBatch's callback, the promise's finally).
    tallied: (reposts: readonly StreamedRepost[], n: number): void => {
      counted += n;
      const at = now();
      for (const r of reposts)
        if (Number.isFinite(r.at)) metrics.addMetric(Metric.tallyLag, MetricUnit.Milliseconds, Math.max(0, at - r.at));
    },
    /** Stores the batch's count; the invocation's `logMetrics` writes it. */
    done: (): void => {
      metrics.addMetric(Metric.repostsCounted, MetricUnit.Count, counted);
    },
  };
}
