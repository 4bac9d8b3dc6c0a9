import type { Config } from "../config";
import type { Authenticator } from "./auth";
import type { Database, Storage } from "./db/client";
import type { Logger } from "./log";
import type { Fanout } from "./realtime/fanout";
import type { Store } from "./store";

/** Counters that features report into; the metrics module publishes them. */
export interface MetricsSink {
  observeHttp(method: string, route: string, status: number, ms: number): void;
  count(name: string, labels?: Record<string, string>, by?: number): void;
  observe(name: string, ms: number): void;
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
  metrics?: MetricsSink;
  /** Unique per process start; names this instance in outbox leases and presence entries. */
  instanceId: string;
};
