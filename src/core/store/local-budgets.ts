import type { MetricsSink } from "../context";
import type { Logger } from "../log";
import { createMemoryStore } from "./memory";
import type { Store } from "./types";

/**
 * Rate budgets that outlive an outage of the shared store. While Redis is unreachable, each
 * instance counts on its own (a user gets the budget once per instance instead of once overall):
 * sends go on at database speed rather than waiting for Redis or being refused, and a flood is
 * still bounded. One log line when counting goes local and one when it is shared again; every
 * event counted locally shows in `chat_rate_limit_local_total`.
 */
export function withLocalBudgets(store: Store, log: Logger, metrics: MetricsSink): Store {
  const local = createMemoryStore();
  let alone = false;
  const countLocally = (key: string, windowMs: number, error?: unknown) => {
    if (!alone) {
      alone = true;
      log.warn("rate limits counted per instance: the shared store is unreachable", { error });
    }
    metrics.count("rate_limit_local_total");
    return local.hit(key, windowMs);
  };
  return Object.assign(Object.create(store) as Store, {
    async hit(key: string, windowMs: number) {
      if (!store.ready) return countLocally(key, windowMs);
      let counted;
      try {
        counted = await store.hit(key, windowMs);
      } catch (error) {
        return countLocally(key, windowMs, error);
      }
      if (alone) {
        alone = false;
        log.info("rate limits shared across instances again");
      }
      return counted;
    },
    async close() {
      await Promise.all([local.close(), store.close()]);
    },
  });
}
