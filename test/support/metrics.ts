// The local stage's metrics as CloudWatch would read them: the EMF lines the functions wrote to
// `stage.metricsFile`, checked against the embedded-metric format, values by metric name.
import { readFileSync } from 'node:fs';
import { METRIC_NAMESPACE, METRIC_SERVICE } from '../../shared/observability/names';

interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

export interface StageMetric {
  unit: string;
  values: number[];
}

/** Every metric written so far, its values in order; throws on a line that is not EMF in our namespace and dimensions. */
export function stageMetrics(file: string): Map<string, StageMetric> {
  const out = new Map<string, StageMetric>();
  for (const text of readFileSync(file, 'utf8').split('\n')) {
    if (!text) continue;
    const line = JSON.parse(text) as EmfLine;
    const [directive] = line._aws.CloudWatchMetrics;
    if (!directive || directive.Namespace !== METRIC_NAMESPACE)
      throw new Error(`not a ${METRIC_NAMESPACE} EMF line: ${text.slice(0, 200)}`);
    if (
      JSON.stringify(directive.Dimensions) !== JSON.stringify([['service', 'stage']]) ||
      line.service !== METRIC_SERVICE ||
      line.stage !== 'local'
    ) {
      throw new Error(
        `unexpected dimensions: ${JSON.stringify(directive.Dimensions)} ${String(line.service)} ${String(line.stage)}`,
      );
    }
    for (const { Name, Unit } of directive.Metrics) {
      const raw = line[Name];
      const values = (Array.isArray(raw) ? raw : [raw]).map(Number);
      const m = out.get(Name) ?? { unit: Unit, values: [] };
      m.values.push(...values);
      out.set(Name, m);
    }
  }
  return out;
}
