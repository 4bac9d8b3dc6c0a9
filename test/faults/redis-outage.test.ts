import { expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { internal, restAs, startCluster } from "../helpers/instances";
import { startRedis } from "../helpers/servers";
import { eventually } from "../helpers/sockets";
import { Ledger, type Outcome } from "./ledger";
import { teardown, UNLIMITED } from "./scene";

const OUTAGE_MS = 5000;
const scene = teardown();

/** How long `work` took, and what it answered. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; res: T }> {
  const started = performance.now();
  const res = await work();
  return { ms: performance.now() - started, res };
}

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

/** True once a message sent by `from` reaches `to` within a second (the fan-out between instances works). */
async function reaches(from: Socket, to: Socket, conversationId: string, content: string): Promise<boolean> {
  const arrived = new Promise<boolean>((resolve) => {
    const listener = (m: { content: string }) => m.content === content && (to.off("message:new", listener), resolve(true));
    to.on("message:new", listener);
    setTimeout(() => (to.off("message:new", listener), resolve(false)), 1000);
  });
  const ack = await from.timeout(5000).emitWithAck("message:send", { conversationId, content });
  return ack.ok && (await arrived);
}

test("Redis stopped for 5 s under traffic, two instances: sends at database speed, UNAVAILABLE at once where Redis is needed, all back on its own", async () => {
  // A Redis of this test's own, which it can stop; the database stays up.
  const redis = await startRedis();
  scene.later(() => redis.destroy());
  const cluster = await startCluster({ ...UNLIMITED, PRESENCE_TTL_MS: "3000" }, { redis: redis.url });
  scene.later(() => cluster.stop());
  const [a, b] = await Promise.all([cluster.start(), cluster.start()]);
  expect((await internal(a!, "POST", "/api/users/sync/batch", { users: [{ externalUserId: "ann" }, { externalUserId: "bob" }] })).status).toBe(200);
  const ann = await restAs(a!, "ann");
  const bobOnB = await restAs(b!, "bob");
  const { id: conversationId } = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
  const annSocket = await scene.socketOn(a!, "ann");
  const bobSocket = await scene.socketOn(b!, "bob");
  expect(await reaches(annSocket, bobSocket, conversationId, "before")).toBe(true);

  const ledger = new Ledger(conversationId);
  let stopped = false;
  let outage = false;
  let slowestDuringOutage = 0;
  const outcomes: Outcome[] = [];
  const flow = async (lane: string) => {
    for (let i = 0; !stopped; i++) {
      const during = outage;
      const { ms, res } = await timed(() => ledger.viaSocket(annSocket, `${lane}-${i}`));
      outcomes.push(res);
      if (during && outage) slowestDuringOutage = Math.max(slowestDuringOutage, ms);
      await Bun.sleep(20);
    }
  };
  const lanes = [flow("socket0"), flow("socket1")];
  await eventually(() => ledger.acked.size >= 10, 10_000, "sends acked before the outage");

  await redis.stop();
  outage = true;
  const ackedBefore = ledger.acked.size;
  const started = Date.now();
  const typingMs: number[] = [];
  const presenceMs: number[] = [];
  while (Date.now() - started < OUTAGE_MS) {
    const typing = await timed(() => annSocket.timeout(5000).emitWithAck("typing:start", { conversationId }));
    expect(typing.res).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    typingMs.push(typing.ms);
    const presence = await timed(() => ann.get("/api/users/bob/presence"));
    expect(presence.res.status).toBe(503);
    presenceMs.push(presence.ms);
    const ready = await timed(() => fetch(`${a!.url}/ready`));
    expect(ready.res.status).toBe(503);
    expect(ready.ms).toBeLessThan(1000);
    await Bun.sleep(250);
  }
  outage = false;
  // Nothing waits for Redis: the typical answer is within 100 ms (a presence read still checks
  // the token and the user in the database), and none takes a reconnection delay.
  expect(median(typingMs)).toBeLessThan(100);
  expect(median(presenceMs)).toBeLessThan(100);
  expect(Math.max(...typingMs, ...presenceMs)).toBeLessThan(1000);
  expect(ledger.acked.size).toBeGreaterThan(ackedBefore + 10);
  // "Database speed": nothing waits for Redis. (Generous for a loaded two-core machine.)
  expect(slowestDuringOutage).toBeLessThan(1000);
  await redis.start();

  // Back without a restart: both instances ready, fan-out between them, presence.
  await eventually(async () => (await fetch(`${a!.url}/ready`)).status === 200 && (await fetch(`${b!.url}/ready`)).status === 200, 10_000, "both ready");
  await eventually(() => reaches(annSocket, bobSocket, conversationId, `after ${Date.now()}`), 10_000, "fan-out from A to B");
  expect((await annSocket.timeout(5000).emitWithAck("typing:start", { conversationId })).ok).toBe(true);
  await eventually(async () => (await bobOnB.get("/api/users/ann/presence")).body.status === "online", 10_000, "ann online, read on B");
  stopped = true;
  await Promise.all(lanes);
  expect(outcomes.filter((o) => o !== "acked")).toEqual([]);
  for (const instance of [a!, b!]) expect(instance.output()).not.toContain("unhandled rejection");
  expect(a!.output()).toContain("rate limits counted per instance");

  await ledger.retryAll(ann);
  await ledger.verify(a!, "ann");
}, 90_000);
