import { expect, test } from "bun:test";
import type { Connection } from "../../src/core/store/types";
import { connectAs, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { eventually } from "../helpers/sockets";

const PRESENCE_TTL_MS = 3000;
const svc = serviceForTests({ PRESENCE_TTL_MS: String(PRESENCE_TTL_MS) });

test("the heartbeat refreshes every socket of the instance in one store call per 500 sockets, not one per socket", async () => {
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const sockets = [await connectAs(svc.url, svc, ann!), await connectAs(svc.wsUrl, svc, ann!), await connectAs(svc.wsUrl, svc, bob!)];
  const store = svc.app.ctx.store;
  const original = store.presenceTouch.bind(store);
  const calls: Connection[][] = [];
  (store as { presenceTouch: typeof original }).presenceTouch = (connections, ttlMs) => {
    calls.push(connections);
    return original(connections, ttlMs);
  };
  try {
    // The heartbeat runs every PRESENCE_TTL_MS / 3.
    await eventually(() => calls.some((c) => c.length >= sockets.length), PRESENCE_TTL_MS * 3, "a heartbeat");
    const beat = calls.find((c) => c.length >= sockets.length)!;
    expect(beat.map((c) => c.connectionId).sort()).toEqual(sockets.map((s) => `${svc.app.ctx.instanceId}:${s.id}`).sort());
  } finally {
    (store as { presenceTouch: typeof original }).presenceTouch = original;
  }
  // Refreshed, the users stay online well past one TTL.
  await Bun.sleep(PRESENCE_TTL_MS + 500);
  expect(await store.presenceOnline([ann!, bob!])).toEqual(new Set([ann!, bob!]));
}, 20_000);

test("the store takes 10,000 connections in one call and reports each user's transition once", async () => {
  const store = svc.app.ctx.store;
  const tag = Date.now().toString(36);
  const connections = Array.from({ length: 10_000 }, (_, i) => ({ userId: `bulk-${tag}-${i % 8000}`, connectionId: `elsewhere:${i}` }));
  const came = await store.presenceTouch(connections, 60_000);
  expect(came).toHaveLength(8000);
  expect(new Set(came.map((c) => c.userId)).size).toBe(8000);
  expect(await store.presenceTouch(connections, 60_000)).toEqual([]);
  expect((await store.presenceOnline(connections.map((c) => c.userId))).size).toBe(8000);

  // A user with two connections goes offline with the second removal only, one generation later.
  const [first, second] = [connections[0]!, connections[8000]!];
  expect(second.userId).toBe(first.userId);
  expect(await store.presenceRemove(first)).toBeNull();
  const gone = await store.presenceRemove(second);
  expect(gone).toEqual({ userId: first.userId, generation: came.find((c) => c.userId === first.userId)!.generation + 1 });
  expect((await store.presenceGenerations([first.userId])).get(first.userId)).toBe(gone!.generation);
});
