import type { MetricFamily, MetricSample, MetricsCollector, MetricsSink } from "../core/context";
import { within } from "./deadline";

/*
 * A small Prometheus registry of our own rather than prom-client: we need counters and
 * histograms keyed by labels, scrape-time collectors and the text format, which is about as much
 * code as wiring prom-client (its default metrics, cluster aggregation and summaries go unused).
 */

type Labels = Record<string, string>;

/** Seconds; REST calls and socket events: from a fast read to a slow write under load. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * What features report, by the name they use with the sink. A name not listed here is still
 * published: `chat_<name>`, or for `<name>_ms` a histogram `chat_<name>_seconds` with
 * LATENCY_BUCKETS. `buckets` (seconds) suit a histogram whose values span another range;
 * `initial` series are published at zero before anything is reported, so that a dashboard sees
 * every outcome from the start.
 */
type Known = { name: string; help: string; buckets?: readonly number[]; initial?: Labels[] };
const KNOWN: Record<string, Known> = {
  http_request_ms: { name: "chat_http_request_duration_seconds", help: "REST request latency by method, route and status" },
  messages_sent_total: { name: "chat_messages_sent_total", help: "Messages stored by this instance (REST and socket sends; idempotent retries excluded)" },
  socket_connections_total: { name: "chat_socket_connections_total", help: "Socket.IO connections accepted by this instance" },
  socket_events_total: { name: "chat_socket_events_total", help: "Socket.IO client events handled, by event" },
  socket_event_ms: { name: "chat_socket_event_duration_seconds", help: "Socket.IO event handling time, from receipt to ack" },
  rate_limit_local_total: {
    name: "chat_rate_limit_local_total",
    help: "Socket events whose per-user budget this instance counted alone because Redis was unreachable",
  },
  message_fanout_ms: {
    name: "chat_message_fanout_seconds",
    help: "Send-to-fan-out latency: from the moment a message got its seq (database clock) to its emit to the conversation room",
  },
  webhook_deliveries_total: {
    name: "chat_webhook_deliveries_total",
    help: "Webhook outcomes on this instance: delivered (2xx), failed_attempt (each attempt without a 2xx), dead (gave up)",
    initial: [{ outcome: "delivered" }, { outcome: "failed_attempt" }, { outcome: "dead" }],
  },
  webhook_delivery_latency_ms: {
    name: "chat_webhook_delivery_latency_seconds",
    help: "From the change's transaction to the receiver's 2xx",
    // A receiver that was down for an hour is still counted in a bucket of its own.
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    initial: [{}],
  },
  lifecycle_batch_ms: {
    name: "chat_lifecycle_batch_duration_seconds",
    help: "Retention and erase batches of this instance, each one transaction (keep them well under the statement timeout)",
  },
  messages_expired_total: { name: "chat_messages_expired_total", help: "Messages this instance deleted for good under MESSAGE_RETENTION_DAYS" },
  moderation_hook_ms: {
    name: "chat_moderation_hook_duration_seconds",
    help: "Pre-send hook round trips, from the request to its answer (or the timeout)",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10],
    initial: [{}],
  },
  moderation_hook_total: {
    name: "chat_moderation_hook_outcomes_total",
    help: "Pre-send hook outcomes: allow, reject (the hook's, or a modify the send's validation refused), modify, timeout, error (a non-2xx, unreachable, or an answer that is none of the three, which rejects the message)",
    initial: [{ outcome: "allow" }, { outcome: "reject" }, { outcome: "modify" }, { outcome: "timeout" }, { outcome: "error" }],
  },
  notification_jobs_total: { name: "chat_notification_jobs_total", help: "Messages whose notification recipients this instance worked out", initial: [{}] },
  notification_recipients_total: {
    name: "chat_notification_recipients_total",
    help: "Recipients listed in notification.message events written by this instance",
    initial: [{}],
  },
  notification_lag_ms: {
    name: "chat_notification_lag_seconds",
    help: "How late a message's notification recipients were worked out, after NOTIFY_DELAY_MS had elapsed",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    initial: [{}],
  },
};

type Histogram = { labels: Labels; buckets: number[]; sum: number; count: number };
type Family = {
  name: string;
  kind: "counter" | "histogram";
  help: string;
  bounds: readonly number[];
  series: Map<string, { labels: Labels; value: number } | Histogram>;
};

/** Prometheus wants base units: features speak milliseconds, the exposition seconds. */
function published(reported: string, kind: "counter" | "histogram"): Omit<Family, "series"> {
  const known = KNOWN[reported];
  if (known) return { name: known.name, help: known.help, kind, bounds: known.buckets ?? LATENCY_BUCKETS };
  const clean = reported.replace(/[^a-zA-Z0-9_]/g, "_");
  return {
    name: kind === "histogram" ? `chat_${clean.replace(/_ms$/, "")}_seconds` : `chat_${clean}`,
    kind,
    help: `Reported by the service as ${reported}`,
    bounds: LATENCY_BUCKETS,
  };
}

const keyOf = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\u0000");

export type Metrics = MetricsSink & {
  /** The Prometheus text exposition of everything registered. */
  render(): Promise<string>;
};

export function createMetrics(opts: { collectorTimeoutMs?: number; onCollectorError?: (error: unknown) => void } = {}): Metrics {
  const families = new Map<string, Family>();
  const collectors: MetricsCollector[] = [];

  const family = (reported: string, kind: "counter" | "histogram"): Family => {
    const id = `${kind}:${reported}`;
    let f = families.get(id);
    if (!f) families.set(id, (f = { ...published(reported, kind), series: new Map() }));
    return f;
  };

  const histogram = (reported: string, labels: Labels): Histogram => {
    const f = family(reported, "histogram");
    const key = keyOf(labels);
    let h = f.series.get(key) as Histogram | undefined;
    if (!h) f.series.set(key, (h = { labels, buckets: f.bounds.map(() => 0), sum: 0, count: 0 }));
    return h;
  };

  const observe = (reported: string, ms: number, labels: Labels = {}) => {
    const h = histogram(reported, labels);
    const bounds = family(reported, "histogram").bounds;
    const seconds = ms / 1000;
    h.sum += seconds;
    h.count += 1;
    for (let i = 0; i < bounds.length; i++) if (seconds <= bounds[i]!) h.buckets[i]! += 1;
  };

  const count = (reported: string, labels: Labels = {}, by = 1) => {
    const f = family(reported, "counter");
    const key = keyOf(labels);
    const s = f.series.get(key) as { labels: Labels; value: number } | undefined;
    if (s) s.value += by;
    else f.series.set(key, { labels, value: by });
  };

  for (const [reported, known] of Object.entries(KNOWN)) {
    for (const labels of known.initial ?? []) {
      if (reported.endsWith("_ms")) histogram(reported, labels);
      else count(reported, labels, 0);
    }
  }

  const snapshot = (): MetricFamily[] =>
    [...families.values()].map((f) => ({
      name: f.name,
      kind: f.kind,
      help: f.help,
      samples: [...f.series.values()].flatMap((s): MetricSample[] =>
        "buckets" in s ? histogramSamples(f.bounds, s.buckets, s.count, s.sum, s.labels) : [{ labels: s.labels, value: s.value }],
      ),
    }));

  const runCollector = async (collect: MetricsCollector): Promise<MetricFamily[]> => {
    try {
      return await within(Promise.resolve().then(collect), opts.collectorTimeoutMs ?? 2000, "metrics collector");
    } catch (error) {
      // One failing source (the database is down) must not take the whole scrape with it.
      opts.onCollectorError?.(error);
      return [];
    }
  };

  return {
    observeHttp(method, route, status, ms) {
      observe("http_request_ms", ms, { method, route, status: String(status) });
    },
    count,
    observe,
    collect(collector) {
      collectors.push(collector);
    },
    async render() {
      const collected = await Promise.all(collectors.map(runCollector));
      return renderText([...snapshot(), ...collected.flat()]);
    },
  };
}

/** Cumulative `_bucket` samples (the last one `+Inf`), then `_sum` and `_count`. */
function histogramSamples(bounds: readonly number[], cumulative: readonly number[], count: number, sum: number, labels: Labels = {}): MetricSample[] {
  return [
    ...bounds.map((le, i) => ({ suffix: "_bucket" as const, labels: { ...labels, le: String(le) }, value: cumulative[i] ?? 0 })),
    { suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count },
    { suffix: "_sum", labels, value: sum },
    { suffix: "_count", labels, value: count },
  ];
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const formatValue = (v: number) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v));

/** The text exposition format (version 0.0.4); families of one name are merged. */
export function renderText(list: MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const f of list) {
    const seen = merged.get(f.name);
    if (seen) seen.samples.push(...f.samples);
    else merged.set(f.name, { ...f, samples: [...f.samples] });
  }
  const lines: string[] = [];
  for (const f of merged.values()) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const text = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
      lines.push(`${f.name}${s.suffix ?? ""}${text} ${formatValue(s.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
