import { type AnyElysia, Elysia } from "elysia";
import pkg from "../package.json";
import type { Config } from "./config";
import { createAuthenticator } from "./core/auth";
import type { Context } from "./core/context";
import { openStorage, type Storage, type StorageOptions } from "./core/db/client";
import { migrate } from "./core/db/migrate";
import { httpCore } from "./core/http";
import { createLogger, type Logger } from "./core/log";
import { attachSocketHandlers, createRealtime, type Realtime } from "./core/realtime/server";
import { createMemoryStore } from "./core/store/memory";
import { withLocalBudgets } from "./core/store/local-budgets";
import { createRedisClient, createRedisCluster, createRedisStore, type RedisClient } from "./core/store/redis";
import type { Store } from "./core/store";
import { conversationRoutes } from "./conversations/routes";
import { connectingUser } from "./conversations/membership";
import { conversationEvents } from "./conversations/socket";
import { flagQueueRoutes, flagRoutes } from "./flags/routes";
import { flagEvents } from "./flags/socket";
import { pageAndSendRoutes, messageRoutes } from "./messages/routes";
import { banRoutes, blockRoutes } from "./moderation/routes";
import { createModerationHook } from "./messages/moderation-hook";
import { PageCache } from "./messages/page-cache";
import { SendQueue, type WriteSends } from "./messages/send-queue";
import { writeSends } from "./messages/service";
import { messageEvents } from "./messages/socket";
import { presenceRoutes } from "./presence/routes";
import { presenceFeature } from "./presence/socket";
import { PresenceTracker } from "./presence/tracker";
import { reactionRoutes } from "./reactions/routes";
import { reactionEvents } from "./reactions/socket";
import { receiptRoutes } from "./receipts/routes";
import { receiptEvents } from "./receipts/socket";
import { userRoutes } from "./users/routes";
import { findActiveUser } from "./users/store";
import { Notifier } from "./notifications/notifier";
import { WebhookDrainer } from "./webhooks/drainer";
import { webhookRoutes } from "./webhooks/routes";
import { createDrain } from "./ops/drain";
import { instrumentService, logRedisOutages, timedFanout } from "./ops/instruments";
import { LifecycleWorker } from "./ops/lifecycle";
import { createMetrics } from "./ops/metrics";
import { type Ops, opsRoutes } from "./ops/routes";
import { stopGracefully } from "./ops/shutdown";
import type Redis from "ioredis";

export type App = {
  ctx: Context;
  realtime: Realtime;
  http: ReturnType<typeof buildHttp>;
  /** The outbox drainer; undefined without WEBHOOK_URL. */
  webhooks: WebhookDrainer | undefined;
  /** Works out `notification.message` recipients; undefined without WEBHOOK_URL. */
  notifier: Notifier | undefined;
  /** Retention and erase batches of this instance. */
  lifecycle: LifecycleWorker;
  /** Ports actually bound (useful when 0 asked for a free one). */
  ports: { http: number; ws: number | null };
  stop(): Promise<void>;
};

function buildHttp(ctx: Context, realtime: Realtime, ops: Omit<Ops, "app">) {
  // "typebox" cleans unknown properties and then validates. The default mirror reshapes values
  // before validating them, so that a string sent as `metadata` became {"0": "t", …} and passed.
  const app = new Elysia({ normalize: "typebox" })
    .use(httpCore(ctx))
    .use(opsRoutes({ ...ops, app: (): AnyElysia => app }))
    .all("/socket.io/", ({ request, server }) => realtime.engine.handleRequest(request, server!))
    .use(userRoutes(ctx))
    .use(conversationRoutes(ctx))
    .use(pageAndSendRoutes(ctx))
    .use(messageRoutes(ctx))
    .use(reactionRoutes(ctx))
    .use(receiptRoutes(ctx))
    .use(presenceRoutes(ctx))
    .use(blockRoutes(ctx))
    .use(banRoutes(ctx))
    .use(flagRoutes(ctx))
    .use(flagQueueRoutes(ctx))
    .use(webhookRoutes(ctx));
  return app;
}

export type AppOptions = StorageOptions & {
  /** Wraps the writer of message sends: tests watch the batches the queue hands it. */
  sendWriter?: (write: WriteSends) => WriteSends;
};

/** Boots one instance: storage (migrated), store, Socket.IO, REST; then listens on PORT and WS_PORT. */
export async function startApp(config: Config, log: Logger = createLogger(config.LOG_LEVEL), options: AppOptions = {}): Promise<App> {
  const startedAt = performance.now();
  const instanceId = Bun.randomUUIDv7().slice(-12);
  // Redis connects while the database opens and migrates.
  const redis = config.REDIS_URL || config.redisClusterNodes ? openRedis(config, log) : undefined;
  let storage: Storage;
  try {
    storage = await openStorage(config, log, options);
    await migrate(storage);
  } catch (error) {
    for (const client of redis ? [redis.main, redis.pub, redis.sub] : []) client.disconnect();
    throw error;
  }
  await redis?.connected;
  const metrics = createMetrics({ onCollectorError: (error) => log.warn("metrics source failed", { error }) });
  const store: Store = redis ? withLocalBudgets(createRedisStore(redis.main, config.REDIS_PREFIX), log, metrics) : createMemoryStore();
  const realtime = createRealtime(config, redis);
  const drain = createDrain();
  // One queue per instance: sends commit in groups.
  const write: WriteSends = (batch) => writeSends(ctx, batch);
  const sends = new SendQueue(options.sendWriter?.(write) ?? write, drain);
  const ctx: Context = {
    config,
    log,
    storage,
    db: storage.db,
    store,
    auth: createAuthenticator(config, (userId) => findActiveUser(storage.db, userId)),
    fanout: timedFanout(realtime.fanout, metrics),
    sends,
    pages: new PageCache(PAGE_CACHE_BYTES),
    moderation: createModerationHook(config, metrics, log),
    metrics,
    drain,
    // Set once the worker exists (it needs this context).
    lifecycle: { wake: () => void lifecycle.runDue() },
    instanceId,
  };
  const redisClients = redis && { store: redis.main, adapter_pub: redis.pub, adapter_sub: redis.sub };
  instrumentService(metrics, { ctx, io: realtime.io, redis: redisClients, version: pkg.version });
  const presence = new PresenceTracker(ctx);
  attachSocketHandlers(
    ctx,
    realtime,
    [
      { events: messageEvents },
      { events: reactionEvents },
      { events: flagEvents },
      { events: receiptEvents },
      { events: conversationEvents },
      presenceFeature(presence),
    ],
    (userId) => connectingUser(ctx.storage, userId),
  );
  presence.start(realtime.io);
  const lifecycle = new LifecycleWorker(ctx);
  lifecycle.start();
  const webhooks = config.WEBHOOK_URL && config.WEBHOOK_SECRET ? new WebhookDrainer(ctx) : undefined;
  webhooks?.start();
  // Notifications are webhooks: the events it writes go out through this instance's drainer at once.
  const notifier = webhooks && new Notifier(ctx, () => void webhooks.drain());
  notifier?.start();
  const http = buildHttp(ctx, realtime, { metrics, version: pkg.version, readiness: { ctx, redis: redisClients, draining: () => drain.draining } });
  const engineHandlers = realtime.engine.handler();
  // Long-polling requests are held up to pingInterval (25 s): idle timeouts must outlast them.
  // Bun answers bodies over its limit with a bare 413 before any of our code runs, so its limit
  // sits above MAX_BODY_BYTES: up to there REST answers in the contract's format (src/core/http.ts).
  // A client that stops reading is disconnected once 4 MiB wait for it (it resyncs by seq when it
  // reconnects), rather than buffering for it without bound.
  const websocket = { ...engineHandlers.websocket, backpressureLimit: 4 * 1024 * 1024, closeOnBackpressureLimit: true };
  const serveOptions = { hostname: config.HOST, maxRequestBodySize: config.MAX_BODY_BYTES * 4, idleTimeout: 60, websocket };
  http.listen({ ...serveOptions, port: config.PORT });
  // 0 asks for a free port, for each of the two: only two equal fixed ports mean one server.
  const wsServer = config.WS_PORT === 0 || config.WS_PORT !== config.PORT ? Bun.serve({ ...serveOptions, port: config.WS_PORT, fetch: engineHandlers.fetch }) : undefined;
  realtime.publisher.attach(http.server!);
  if (wsServer) realtime.publisher.attach(wsServer);
  const ports = { http: http.server!.port!, ws: wsServer?.port ?? null };
  log.info("listening", { port: ports.http, wsPort: ports.ws, database: storage.driver, store: store.kind, instanceId, startupMs: Math.round(performance.now() - startedAt) });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= stopGracefully(
      {
        log,
        drain,
        servers: [http.server!, ...(wsServer ? [wsServer] : [])],
        realtime,
        workers: [() => presence.stop(), () => lifecycle.stop(), () => notifier?.stop(), () => webhooks?.stop()],
        pools: [() => store.close(), async () => {
          if (redis) await Promise.all([closeGently(redis.pub), closeGently(redis.sub)]);
        }, () => storage.close()],
      },
      config.SHUTDOWN_TIMEOUT_MS,
    ));
  return { ctx, realtime, http, webhooks, notifier, lifecycle, ports, stop };
}

/**
 * Text of the newest pages an instance keeps (about 600 pages of 50 messages): a page is kept
 * for all the members who open its conversation until one of its messages changes.
 */
const PAGE_CACHE_BYTES = 32 * 1024 * 1024;

/** How long a start waits for Redis; past it the instance serves anyway and Redis catches up. */
const REDIS_START_WAIT_MS = 5000;

/**
 * One client for commands and the store, a pair for the adapter's publish and subscribe. A single
 * Redis server's commands fail at once while it is unreachable (see createRedisClient), so the
 * start waits (`connected`) a little for the connections to be ready.
 */
function openRedis(config: Config, log: Logger): { main: RedisClient; pub: RedisClient; sub: RedisClient; cluster: boolean; connected: Promise<void> } {
  const nodes = config.redisClusterNodes;
  const open = () => (nodes ? createRedisCluster(nodes) : createRedisClient(config.REDIS_URL!));
  const main = open();
  const pub = droppingFailedPublishes(open());
  // The adapter subscribes once, without handling a failure: its subscriptions wait for Redis
  // and are renewed by ioredis on every reconnection.
  const sub = nodes
    ? createRedisCluster(nodes, { subscriber: true })
    : (pub as Redis).duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
  const clients = { store: main, adapter_pub: pub, adapter_sub: sub };
  logRedisOutages(clients, log);
  const ready = Promise.all(Object.values(clients).map((c) => (c.status === "ready" ? undefined : new Promise((resolve) => c.once("ready", resolve)))));
  const connected = Promise.race([ready, Bun.sleep(REDIS_START_WAIT_MS).then(() => "late" as const)]).then((outcome) => {
    if (outcome === "late") log.warn("starting without Redis: it did not answer in time; presence and typing answer UNAVAILABLE until it does");
  });
  return { main, pub, sub, cluster: Boolean(nodes), connected };
}

/**
 * The Socket.IO adapter publishes broadcasts and server-side emits without handling a failure:
 * while Redis is unreachable each of them would be an unhandled rejection. They are dropped
 * instead (the outage is logged once, by logRedisOutages): the other instances miss those events,
 * and their clients catch up with `messages:sync` as after any disconnection.
 */
function droppingFailedPublishes(pub: RedisClient): RedisClient {
  const publish = pub.publish.bind(pub) as (channel: string | Buffer, message: string | Buffer) => Promise<number>;
  pub.publish = ((channel: string | Buffer, message: string | Buffer) => publish(channel, message).catch(() => 0)) as Redis["publish"];
  return pub;
}

/**
 * QUIT after the replies still due, then drop the connection: the adapter unsubscribes on close
 * without waiting for the answer, and a bare disconnect would reject that command with nobody to
 * handle it. A Redis that does not answer within a second is simply dropped.
 */
async function closeGently(client: RedisClient): Promise<void> {
  await Promise.race([client.quit().catch(() => {}), Bun.sleep(1000)]);
  client.disconnect();
}
