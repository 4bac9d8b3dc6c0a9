import type { Config } from "../config";
import type { Authenticator } from "./auth";
import type { Database, Storage } from "./db/client";
import type { Logger } from "./log";
import type { Fanout } from "./realtime/fanout";
import type { Store } from "./store";
import type { ModerationHook } from "../messages/moderation-hook";
import type { PageCache } from "../messages/page-cache";
import type { SendQueue } from "../messages/send-queue";

/** Counters that features report into; the metrics module publishes them (as `chat_<name>`). */
export interface MetricsSink {
  observeHttp(method: string, route: string, status: number, ms: number): void;
  count(name: string, labels?: Record<string, string>, by?: number): void;
  observe(name: string, ms: number, labels?: Record<string, string>): void;
  /** Adds metrics computed at each scrape from state kept elsewhere (queue depths, counters of a worker). */
  collect(collector: MetricsCollector): void;
}

export type MetricSample = { labels?: Record<string, string>; value: number; suffix?: "_bucket" | "_sum" | "_count" };
export type MetricFamily = { name: string; kind: "counter" | "gauge" | "histogram"; help: string; samples: MetricSample[] };
export type MetricsCollector = () => MetricFamily[] | Promise<MetricFamily[]>;

/**
 * Shutdown bookkeeping: work in flight is counted so that stopping can let it finish, and once
 * draining, new socket events are refused (UNAVAILABLE) instead of started.
 */
export interface Drain {
  readonly draining: boolean;
  track<T>(work: Promise<T>): Promise<T>;
}

/**
 * Everything a service function needs, handed in one object (no module singletons: tests run
 * several instances in one process).
 */
export type Context = {
  config: Config;
  log: Logger;
  storage: Storage;
  db: Database;
  store: Store;
  auth: Authenticator;
  fanout: Fanout;
  /** Message sends of this instance, written in groups (see SendQueue). */
  sends: SendQueue;
  /** Newest pages of conversations as last answered, for readers who find them unchanged. */
  pages: PageCache;
  /** The pre-send hook; undefined without MODERATION_HOOK_URL. */
  moderation: ModerationHook | undefined;
  metrics: MetricsSink;
  drain: Drain;
  /** The data-lifecycle worker (retention, erase): `wake` starts a pass now rather than at its next tick. */
  lifecycle: { wake(): void };
  /** Unique per process start; names this instance in outbox leases and presence entries. */
  instanceId: string;
};
