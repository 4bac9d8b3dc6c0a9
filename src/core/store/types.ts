/**
 * Ephemeral shared state: presence, typing indicators and rate-limit counters. Redis when
 * REDIS_URL is set (shared by every instance), otherwise an in-process map (one instance).
 * Every transition is decided atomically inside the store, so that exactly one caller (on any
 * instance) sees each online/offline/typing change and emits it once.
 */
export interface Store {
  readonly kind: "redis" | "memory";

  /** Registers or refreshes a live connection (heartbeat); true when the user just came online. */
  presenceAdd(userId: string, connectionId: string, ttlMs: number): Promise<boolean>;
  /** Drops a connection; true when that was the user's last one and they just went offline. */
  presenceRemove(userId: string, connectionId: string): Promise<boolean>;
  /** The subset of `userIds` that has at least one live connection. */
  presenceOnline(userIds: string[]): Promise<Set<string>>;
  /** Users whose every connection expired (an instance died); each is returned to one caller only. */
  presenceSweep(limit?: number): Promise<string[]>;

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
