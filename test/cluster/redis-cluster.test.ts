/**
 * Three instances on a Redis Cluster (REDIS_CLUSTER_NODES) of three masters with a replica each:
 * fan-out, room moves, presence, typing and rate budgets across instances, and a master failing
 * over to its replica without any instance restarting.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Cluster, connectTo, groupOn, type Instance, internal, restAs, startCluster, usersOn } from "../helpers/instances";
import { type RedisCluster, startRedisCluster } from "../helpers/redis-cluster";
import { call, ok } from "../helpers/realtime";
import { type ClientSocket, closeAllSockets, eventually, nextEvent, record } from "../helpers/sockets";

let redis: RedisCluster;
let cluster: Cluster;
let a: Instance;
let b: Instance;
let c: Instance;
beforeAll(async () => {
  redis = await startRedisCluster();
  cluster = await startCluster(
    { DATABASE_POOL_SIZE: "3", PRESENCE_TTL_MS: "3000", TYPING_TTL_MS: "2000", RATE_LIMIT_MESSAGES: "5" },
    { redisClusterNodes: redis.nodes },
  );
  [a, b, c] = await Promise.all([cluster.start(), cluster.start(), cluster.start()]);
}, 90_000);
afterAll(async () => {
  closeAllSockets();
  await cluster?.stop();
  await redis?.stop();
}, 60_000);

const makeUsers = (...names: string[]) => usersOn(a, ...names);
const about = (userId: string) => (e: any) => e.userId === userId;

/** Sends until one message reaches `to` (pub/sub loses what is published while a shard fails over). */
async function deliveredEventually(from: ClientSocket, to: ClientSocket, conversationId: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (let n = 0; Date.now() < end; n++) {
    const content = `after failover ${n}`;
    const heard = nextEvent(to, "message:new", (m: any) => m.content === content, 1000).catch(() => undefined);
    const sent = await call(from, "message:send", { conversationId, content });
    if (sent.ok && (await heard)) return;
    if (!sent.ok) await Bun.sleep(200);
  }
  throw new Error("no message crossed instances after the failover");
}

describe("on a Redis Cluster", () => {
  test("messages and room moves reach sockets on every instance", async () => {
    const [ann, bob, cid, dan] = await makeUsers("ann", "bob", "cid", "dan");
    const conversationId = await groupOn(a, ann!, [bob!, cid!]);
    const [sAnn, sBob, sCid, sDan] = [await connectTo(a, ann!), await connectTo(b, bob!), await connectTo(c, cid!), await connectTo(c, dan!)];
    const heard = [sBob, sCid].map((s) => nextEvent(s, "message:new", (m: any) => m.conversationId === conversationId));
    const sent = await ok(sAnn, "message:send", { conversationId, content: "across the cluster" });
    for (const message of await Promise.all(heard)) expect(message).toEqual(sent);

    const joined = nextEvent(sDan, "conversation:joined");
    expect((await (await restAs(b, ann!)).post(`/api/conversations/${conversationId}/participants`, { userIds: [dan] })).status).toBe(200);
    expect(await joined).toMatchObject({ id: conversationId });
    const atDan = nextEvent(sDan, "message:new", (m: any) => m.conversationId === conversationId);
    const reply = await ok(sBob, "message:send", { conversationId, content: "welcome dan" });
    expect(await atDan).toEqual(reply);
  });

  test("presence and typing are seen across instances, once per transition", async () => {
    const [ann, bob] = await makeUsers("ann", "bob");
    const conversationId = await groupOn(a, bob!, [ann!]);
    const sBob = await connectTo(a, bob!);
    const onlines = record(sBob, "user:online");
    const online = nextEvent(sBob, "user:online", about(ann!));
    const onB = await connectTo(b, ann!);
    expect(await online).toMatchObject({ userId: ann, conversationId });
    const onC = await connectTo(c, ann!);
    expect((await (await restAs(c, bob!)).get(`/api/users/${ann}/presence`)).body.status).toBe("online");

    const started = nextEvent(sBob, "user:typing", (e: any) => e.userId === ann && e.isActive);
    await ok(onC, "typing:start", { conversationId });
    expect(await started).toMatchObject({ conversationId, type: "typing" });
    const stopped = nextEvent(sBob, "user:typing", (e: any) => e.userId === ann && !e.isActive);
    await ok(onB, "typing:stop", { conversationId });
    await stopped;

    const offline = nextEvent(sBob, "user:offline", about(ann!));
    onB.close();
    onC.close();
    expect(await offline).toMatchObject({ userId: ann, conversationId });
    expect(onlines.filter(about(ann!))).toHaveLength(1);
  });

  test("a user's send budget is shared by the instances", async () => {
    const [eve, fay] = await makeUsers("eve", "fay");
    const conversationId = await groupOn(a, eve!, [fay!]);
    const [onA, onB] = [await connectTo(a, eve!), await connectTo(b, eve!)];
    for (let i = 0; i < 3; i++) await ok(onA, "message:send", { conversationId, content: `a${i}` });
    for (let i = 0; i < 2; i++) await ok(onB, "message:send", { conversationId, content: `b${i}` });
    expect(await call(onB, "message:send", { conversationId, content: "one too many" })).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
  });

  test("a master failing over to its replica: the instances carry on without a restart", async () => {
    const [ann, bob] = await makeUsers("ann", "bob");
    const conversationId = await groupOn(a, ann!, [bob!]);
    const sAnn = await connectTo(a, ann!);
    const sBob = await connectTo(b, bob!);
    // The shards of the adapter's channel and of presence: what cross-instance delivery needs.
    const victims = new Set([await redis.masterOf(`${cluster.redisPrefix}socket.io#/#`), await redis.masterOf(`${cluster.redisPrefix}{p}:online`)]);
    for (const victim of victims) {
      await redis.failOver(victim);
      await deliveredEventually(sAnn, sBob, conversationId);
    }
    for (const instance of [a, b, c]) await eventually(async () => (await fetch(`${instance.url}/ready`)).ok, 15_000, "ready again");

    // Typing and presence work again across instances.
    const typing = nextEvent(sBob, "user:typing", about(ann!));
    await ok(sAnn, "typing:start", { conversationId });
    await typing;
    const bobOnC = await restAs(c, bob!);
    await eventually(async () => (await bobOnC.get(`/api/users/${ann}/presence`)).body.status === "online", 5000, "Ann online");
    for (const instance of [a, b, c]) expect(instance.output()).not.toContain('"level":"error"');
  }, 150_000);
});
