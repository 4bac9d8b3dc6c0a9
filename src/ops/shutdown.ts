import type { Server } from "bun";
import type { Logger } from "../core/log";
import type { Realtime } from "../core/realtime/server";
import { within } from "./deadline";
import type { ShutdownDrain } from "./drain";

export type RunningInstance = {
  log: Logger;
  drain: ShutdownDrain;
  /** The listening servers (PORT, and WS_PORT when separate). */
  servers: Server<unknown>[];
  realtime: Realtime;
  /** Timers and workers: each stops starting work, finishes what it started, gives back claims. */
  workers: (() => void | Promise<void>)[];
  /** Connections to close last, in order (store, Redis, database). */
  pools: (() => void | Promise<void>)[];
};

/** Part of the shutdown bound kept for closing pools once the graceful part is over. */
const POOL_CLOSE_SHARE = 0.2;

/**
 * Stops one instance within `timeoutMs` without losing acknowledged work:
 *  1. draining: /ready answers 503, new socket events are refused with UNAVAILABLE;
 *  2. the listeners close (no new connections) while requests in flight run to their response;
 *  3. socket events in flight finish and their acks are written;
 *  4. the Socket.IO transports close: unlike a server-side disconnect ("io server disconnect"),
 *     a closed transport makes socket.io-client reconnect, to another instance behind the balancer;
 *  5. workers stop (the outbox drainer gives back its claims), then the pools close.
 * Past the bound, connections still open are cut; the process exits either way.
 */
export async function stopGracefully(instance: RunningInstance, timeoutMs: number): Promise<void> {
  const { log, drain, servers, realtime } = instance;
  const deadline = Date.now() + timeoutMs * (1 - POOL_CLOSE_SHARE);
  const left = () => Math.max(0, deadline - Date.now());
  const quietly = (what: string, work: () => unknown) =>
    Promise.resolve()
      .then(work)
      .catch((error) => log.warn(`shutdown: ${what} failed`, { error }));

  drain.begin();
  const listenersClosed = Promise.all(servers.map((server) => server.stop(false)));
  const workersStopped = Promise.all(instance.workers.map((stop) => quietly("stopping a worker", stop)));

  if (!(await drain.idle(left()))) log.warn("shutdown: socket events still running at the deadline", { inFlight: drain.inFlight });
  await quietly("closing sockets", () => within(realtime.close(), left(), "closing sockets"));
  try {
    await within(listenersClosed, left(), "closing connections");
  } catch {
    log.warn("shutdown: cutting connections still open at the deadline");
    await Promise.all(servers.map((server) => quietly("cutting connections", () => server.stop(true))));
  }
  await quietly("stopping workers", () => within(workersStopped, left(), "stopping workers"));
  // Disconnect handlers (presence) write in transactions of their own: let them commit first.
  await drain.idle(left());
  for (const close of instance.pools) await quietly("closing a pool", close);
}
