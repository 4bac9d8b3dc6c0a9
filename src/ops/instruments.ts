import type { RedisClient } from "../core/store/redis";
import type { Context, MetricFamily, MetricSample, MetricsSink } from "../core/context";
import type { Logger } from "../core/log";
import type { ChatServer } from "../core/realtime/handlers";
import type { Fanout } from "../core/realtime/fanout";
import { outboxDepth } from "../webhooks/stats";

const gauge = (name: string, help: string, value: number, labels?: Record<string, string>): MetricFamily => ({
  name,
  kind: "gauge",
  help,
  samples: [{ labels, value }],
});

/** One sample per value of `label`, in the order given. */
const byLabel = (label: string, values: Record<string, number>): MetricSample[] =>
  Object.entries(values).map(([labelValue, value]) => ({ labels: { [label]: labelValue }, value }));

/**
 * Send-to-fan-out latency, measured where every `message:new` leaves: from the message's
 * createdAt (taken by the database when the message got its seq, before the commit) to the emit.
 * With Postgres on another host, clock skew shifts it; negative values are clamped to 0.
 */
export function timedFanout(fanout: Fanout, metrics: MetricsSink): Fanout {
  return {
    ...fanout,
    toConversation(conversationId, event, payload, except) {
      fanout.toConversation(conversationId, event, payload, except);
      if (event === "message:new") {
        const createdAt = Date.parse((payload as { createdAt: string }).createdAt);
        if (!Number.isNaN(createdAt)) metrics.observe("message_fanout_ms", Math.max(0, Date.now() - createdAt));
      }
    },
  };
}

export type InstrumentedParts = {
  ctx: Context;
  io: ChatServer;
  /** The Redis clients by role, when REDIS_URL or REDIS_CLUSTER_NODES is set. */
  redis?: Record<string, RedisClient>;
  version: string;
};

/** Registers the scrape-time metrics of one instance: sockets, database, Redis, webhooks, process. */
export function instrumentService(metrics: MetricsSink, { ctx, io, redis, version }: InstrumentedParts): void {
  const startedAt = Date.now() / 1000;

  metrics.collect(() => [
    gauge("chat_socket_connections", "Socket.IO connections open on this instance", io.of("/").sockets.size),
    gauge("chat_build_info", "Version of the running service", 1, { version }),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes", process.memoryUsage.rss()),
    gauge("process_heap_bytes", "JavaScript heap in use, in bytes", process.memoryUsage().heapUsed),
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds", startedAt),
    {
      name: "process_cpu_seconds_total",
      kind: "counter",
      help: "User and system CPU time spent, in seconds",
      samples: [{ value: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()) }],
    },
  ]);

  metrics.collect(() => [
    {
      name: "chat_message_pages_total",
      kind: "counter",
      help: "Newest pages of conversations answered: kept (unchanged since an earlier read, not built again) or built",
      samples: byLabel("answer", ctx.pages.answered),
    },
    gauge("chat_message_page_cache_bytes", "Text of the newest pages this instance keeps, in bytes (UTF-16)", ctx.pages.size.bytes),
  ]);

  metrics.collect(async () => {
    const up = await ctx.storage.ping().then(
      () => 1,
      () => 0,
    );
    return [
      gauge("chat_database_up", "1 when the database answered a query at this scrape", up, { driver: ctx.storage.driver }),
      gauge("chat_database_pool_connections", "Most database connections this instance opens", ctx.storage.poolStats().size, { driver: ctx.storage.driver }),
    ];
  });

  if (redis) {
    metrics.collect(() => [
      {
        name: "chat_redis_up",
        kind: "gauge",
        help: "1 when the Redis client is connected and ready, by role (store, adapter publisher, adapter subscriber)",
        samples: Object.entries(redis).map(([client, r]) => ({ labels: { client }, value: r.status === "ready" ? 1 : 0 })),
      },
    ]);
  }

  // The drainer reports its outcomes and latencies to the sink; the outbox is shared, read at each scrape.
  metrics.collect(async () => {
    const outbox = await outboxDepth(ctx);
    return [
      {
        name: "chat_webhook_outbox_events",
        kind: "gauge",
        help: "Events in the outbox shared by every instance: pending (due now or later), due (pending and due now), dead",
        samples: byLabel("state", { pending: outbox.pending, due: outbox.due, dead: outbox.dead }),
      },
      gauge("chat_webhook_outbox_oldest_pending_seconds", "Age of the oldest pending event (0 when none)", (outbox.oldestPendingAgeMs ?? 0) / 1000),
    ];
  });
}

/**
 * One log line when a Redis client loses its server and one when it is back, instead of ioredis'
 * unstructured console warning on every reconnection attempt.
 */
export function logRedisOutages(clients: Record<string, RedisClient>, log: Logger): void {
  for (const [client, redis] of Object.entries(clients)) {
    let down = false;
    redis.on("error", (error: Error & { lastNodeError?: Error }) => {
      if (down) return;
      down = true;
      // A cluster client's own message ("Failed to refresh slots cache") hides the node's answer,
      // e.g. "cluster support disabled" when REDIS_CLUSTER_NODES names a plain Redis server.
      const cause = error.lastNodeError?.message;
      log.warn("redis unreachable; retrying", { client, error: error.message, ...(cause ? { cause } : {}) });
    });
    redis.on("ready", () => {
      if (!down) return;
      down = false;
      log.info("redis reconnected", { client });
    });
  }
}
