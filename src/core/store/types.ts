/**
 * Ephemeral shared state: presence, typing indicators and rate-limit counters. Redis when
 * REDIS_URL or REDIS_CLUSTER_NODES is set (shared by every instance), otherwise an in-process
 * map (one instance).
 * Every transition is decided atomically inside the store, so that exactly one caller (on any
 * instance) sees each online/offline/typing change and emits it once.
 */

/** One socket, named `<instance>:<socket id>`, of one user. */
export type Connection = { userId: string; connectionId: string };

/**
 * An online or offline transition the store handed to this caller. `generation` counts the
 * user's transitions: an announcement whose generation is no longer the latest was overtaken by
 * a newer transition (a reload that went offline and online again) and is not sent.
 */
export type PresenceChange = { userId: string; generation: number };

export interface Store {
  readonly kind: "redis" | "memory";
  /** False while the shared store is unreachable: its commands fail at once then. */
  readonly ready: boolean;

  /**
   * Registers or refreshes live connections, any number in one round trip (the heartbeat of a
   * whole instance); returns the users who just came online.
   */
  presenceTouch(connections: Connection[], ttlMs: number): Promise<PresenceChange[]>;
  /** Drops a connection; a change when that was the user's last one and they just went offline. */
  presenceRemove(connection: Connection): Promise<PresenceChange | null>;
  /** The subset of `userIds` that has at least one live connection. */
  presenceOnline(userIds: string[]): Promise<Set<string>>;
  /** Users whose every connection expired (an instance died); each is returned to one caller only. */
  presenceSweep(limit?: number): Promise<PresenceChange[]>;
  /** The latest transition number of each user (0 when they never had one). */
  presenceGenerations(userIds: string[]): Promise<Map<string, number>>;

  /** Starts or extends an indicator; true when it was not active before. */
  indicatorStart(key: string, ttlMs: number): Promise<boolean>;
  /** Stops an indicator; true when it was active. */
  indicatorStop(key: string): Promise<boolean>;
  /** Indicators past their TTL; each is returned to one caller only. */
  indicatorSweep(limit?: number): Promise<string[]>;

  /** Fixed-window counter: the count within the current window and the ms left in it. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
