import type { PresenceChange, Store } from "./types";

/** The single-instance store: the same semantics as the Redis one, in maps. */
export function createMemoryStore(now: () => number = Date.now): Store {
  const connections = new Map<string, Map<string, number>>(); // user -> connection -> expiresAt
  const online = new Set<string>();
  const generations = new Map<string, number>();
  const indicators = new Map<string, number>(); // key -> expiresAt
  const counters = new Map<string, { count: number; resetAt: number }>();

  const live = (userId: string) => {
    const conns = connections.get(userId);
    if (!conns) return 0;
    const t = now();
    for (const [id, exp] of conns) if (exp <= t) conns.delete(id);
    if (conns.size === 0) connections.delete(userId);
    return conns.size;
  };
  const transition = (userId: string): PresenceChange => {
    const generation = (generations.get(userId) ?? 0) + 1;
    generations.set(userId, generation);
    return { userId, generation };
  };

  const sweepCounters = setInterval(() => {
    const t = now();
    for (const [k, v] of counters) if (v.resetAt <= t) counters.delete(k);
  }, 30_000);
  sweepCounters.unref?.();

  return {
    kind: "memory",
    async presenceTouch(list, ttlMs) {
      const changes: PresenceChange[] = [];
      const exp = now() + ttlMs;
      for (const { userId, connectionId } of list) {
        let conns = connections.get(userId);
        if (!conns) connections.set(userId, (conns = new Map()));
        conns.set(connectionId, exp);
        if (online.has(userId)) continue;
        online.add(userId);
        changes.push(transition(userId));
      }
      return changes;
    },
    async presenceRemove({ userId, connectionId }) {
      connections.get(userId)?.delete(connectionId);
      if (live(userId) > 0 || !online.delete(userId)) return null;
      return transition(userId);
    },
    async presenceOnline(userIds) {
      return new Set(userIds.filter((u) => live(u) > 0));
    },
    async presenceSweep(limit = 500) {
      const gone: PresenceChange[] = [];
      for (const userId of online) {
        if (gone.length >= limit) break;
        if (live(userId) === 0) gone.push(transition(userId));
      }
      for (const { userId } of gone) online.delete(userId);
      return gone;
    },
    async presenceGenerations(userIds) {
      return new Map(userIds.map((u) => [u, generations.get(u) ?? 0]));
    },
    async indicatorStart(key, ttlMs) {
      const active = indicators.has(key);
      indicators.set(key, now() + ttlMs);
      return !active;
    },
    async indicatorStop(key) {
      return indicators.delete(key);
    },
    async indicatorSweep(limit = 500) {
      const t = now();
      const due: string[] = [];
      for (const [key, exp] of indicators) {
        if (due.length >= limit) break;
        if (exp <= t) due.push(key);
      }
      for (const key of due) indicators.delete(key);
      return due;
    },
    async hit(key, windowMs) {
      const t = now();
      let c = counters.get(key);
      if (!c || c.resetAt <= t) counters.set(key, (c = { count: 0, resetAt: t + windowMs }));
      c.count++;
      return { count: c.count, resetMs: c.resetAt - t };
    },
    ready: true,
    async ping() {},
    async close() {
      clearInterval(sweepCounters);
    },
  };
}
