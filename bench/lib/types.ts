export type Figure = {
  metric: string;
  ours: number;
  unit: string;
  baseline?: number;
  baselineLabel?: string;
  /** ours / baseline, or baseline / ours when lower is better: above 1 means we beat the baseline. */
  ratio?: number;
  higherIsBetter?: boolean;
};

export type ScenarioResult = {
  scenario: string;
  params: Record<string, unknown>;
  figures: Figure[];
  /** What limited the figure in this run: the service, the database, or the load generator. */
  bottleneck: string;
  notes: string[];
};

export type ScenarioOptions = { quick: boolean };

export function figure(metric: string, ours: number, unit: string, baseline?: { value: number; label: string }, higherIsBetter = true): Figure {
  if (!baseline) return { metric, ours, unit, higherIsBetter };
  const ratio = baseline.value > 0 && ours > 0 ? (higherIsBetter ? ours / baseline.value : baseline.value / ours) : undefined;
  return { metric, ours, unit, baseline: baseline.value, baselineLabel: baseline.label, ratio: ratio === undefined ? undefined : Math.round(ratio * 1000) / 1000, higherIsBetter };
}
