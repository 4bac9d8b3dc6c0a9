/**
 * A strict reader of the Prometheus text format (0.0.4), enough to fail on anything a Prometheus
 * server would reject: malformed lines, bad label escapes, families split or typed twice, samples
 * without a TYPE, histograms whose buckets are not cumulative or disagree with their count.
 */
export type Sample = { name: string; labels: Record<string, string>; value: number };
export type Exposition = { types: Map<string, string>; samples: Sample[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES = ["_bucket", "_sum", "_count"];

function parseValue(text: string, line: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf("=", i);
    const name = body.slice(i, eq);
    if (eq < 0 || !LABEL.test(name) || body[eq + 1] !== '"') throw new Error(`bad label in: ${line}`);
    let value = "";
    let j = eq + 2;
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === "\\") {
        const next = body[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`bad escape in: ${line}`);
      } else value += body[j];
    }
    if (body[j] !== '"') throw new Error(`unterminated label value in: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (body[i] === ",") i++;
    else if (i < body.length) throw new Error(`expected , between labels in: ${line}`);
  }
  return labels;
}

export function parsePrometheus(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const closed = new Set<string>();
  let current: string | undefined;
  const enter = (family: string) => {
    if (family === current) return;
    if (closed.has(family)) throw new Error(`family ${family} is split in two`);
    if (current) closed.add(current);
    current = family;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const [, keyword, name, ...rest] = line.split(" ");
      if (keyword === "HELP" || keyword === "TYPE") {
        if (!name || !NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
        enter(name);
        if (keyword === "TYPE") {
          if (types.has(name)) throw new Error(`TYPE of ${name} given twice`);
          if (samples.some((s) => familyOf(s.name, types) === name)) throw new Error(`TYPE of ${name} after its samples`);
          if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest[0] ?? "")) throw new Error(`bad type in: ${line}`);
          types.set(name, rest[0]!);
        }
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (!match) throw new Error(`malformed sample line: ${line}`);
    const sample = { name: match[1]!, labels: parseLabels(match[2] ?? "", line), value: parseValue(match[3]!, line) };
    const family = familyOf(sample.name, types);
    if (!types.has(family)) throw new Error(`sample ${sample.name} has no TYPE`);
    enter(family);
    if (types.get(family) === "counter" && !(sample.value >= 0)) throw new Error(`counter ${sample.name} is ${sample.value}`);
    samples.push(sample);
  }
  checkHistograms(types, samples);
  return { types, samples };
}

function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of SUFFIXES) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === "histogram") return base;
  }
  return name;
}

function checkHistograms(types: Map<string, string>, samples: Sample[]) {
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
    for (const s of samples) {
      if (familyOf(s.name, types) !== family) continue;
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const entry = series.get(key) ?? { buckets: [] };
      series.set(key, entry);
      if (s.name === `${family}_bucket`) {
        if (le === undefined) throw new Error(`${family}_bucket without le`);
        entry.buckets.push([parseValue(le, le), s.value]);
      } else if (s.name === `${family}_count`) entry.count = s.value;
      else if (s.name === `${family}_sum`) entry.sum = s.value;
      else throw new Error(`unexpected sample ${s.name} in histogram ${family}`);
    }
    for (const [key, { buckets, count, sum }] of series) {
      if (count === undefined || sum === undefined) throw new Error(`${family}${key}: missing _count or _sum`);
      const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
      if (sorted.at(-1)?.[0] !== Infinity) throw new Error(`${family}${key}: no +Inf bucket`);
      sorted.forEach(([, v], i) => {
        if (i > 0 && v < sorted[i - 1]![1]) throw new Error(`${family}${key}: buckets are not cumulative`);
      });
      if (sorted.at(-1)![1] !== count) throw new Error(`${family}${key}: +Inf bucket ${sorted.at(-1)![1]} differs from count ${count}`);
    }
  }
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function total(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

export const has = (exposition: Exposition, name: string) => exposition.samples.some((s) => s.name === name);

/** The /metrics page of the service at `url`, parsed. */
export async function scrape(url: string): Promise<Exposition> {
  return parsePrometheus(await (await fetch(`${url}/metrics`)).text());
}
