/**
 * Two (and, for the crash, three) real instances sharing Postgres and Redis, as behind a load
 * balancer: whatever reaches one instance must reach sockets on the other.
 */
import { describe, expect, test } from "bun:test";
import { type Cluster, connectTo, groupOn, type Instance, internal, restAs, usersOn, withTwoInstances } from "../helpers/instances";
import { call, ok } from "../helpers/realtime";
import { mintToken, sendRequest } from "../helpers/service";
import { type ClientSocket, connectSocket, nextEvent, record } from "../helpers/sockets";

const PRESENCE_TTL_MS = 3000;
const TYPING_TTL_MS = 2000;
let cluster: Cluster;
let a: Instance;
let b: Instance;
withTwoInstances((x, y, c) => {
  [a, b, cluster] = [x, y, c];
}, { PRESENCE_TTL_MS: String(PRESENCE_TTL_MS), TYPING_TTL_MS: String(TYPING_TTL_MS) });

const makeUsers = (...names: string[]) => usersOn(a, ...names);
async function say(on: Instance, userId: string, conversationId: string, content: string) {
  const res = await (await restAs(on, userId)).post(`/api/conversations/${conversationId}/messages`, { content });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
const about = (userId: string) => (e: any) => e.userId === userId;
const inConversation = (conversationId: string) => (e: any) => e.conversationId === conversationId;

/** A message in a conversation of all the watched users, sent through `on`, seen by every socket. */
async function fenceThrough(on: Instance, members: { userId: string; socket: ClientSocket }[]) {
  const ownerId = members[0]!.userId;
  const others = [...new Set(members.map((m) => m.userId).filter((u) => u !== ownerId))];
  const joined = members.map((m) => nextEvent(m.socket, "conversation:new", (c: any) => c.name === "fence"));
  const conversationId = await groupOn(on, ownerId, others.length ? others : [ownerId], "fence");
  await Promise.all(joined);
  let n = 0;
  return async () => {
    const content = `fence ${++n}`;
    const seen = members.filter((m) => m.socket.connected).map((m) => nextEvent(m.socket, "message:new", (x: any) => x.content === content));
    await say(on, ownerId, conversationId, content);
    await Promise.all(seen);
  };
}

describe("two instances", () => {
  test("a message sent on one reaches sockets on the other, and never outsiders", async () => {
    const [ann, bob, eve] = await makeUsers("ann", "bob", "eve");
    const conversationId = await groupOn(a, ann!, [bob!]);
    const sAnn = await connectTo(a, ann!);
    const sBob = await connectTo(b, bob!);
    const sEve = await connectTo(b, eve!);
    const pass = await fenceThrough(a, [
      { userId: ann!, socket: sAnn },
      { userId: eve!, socket: sEve },
    ]);
    const leaked = record(sEve, "message:new");

    const atBob = nextEvent(sBob, "message:new", inConversation(conversationId));
    const sent = await ok(sAnn, "message:send", { conversationId, content: "from A" });
    expect(await atBob).toEqual(sent);

    const atAnn = nextEvent(sAnn, "message:new", inConversation(conversationId));
    const viaRest = await say(b, bob!, conversationId, "from B over REST");
    expect(await atAnn).toEqual(viaRest);
    expect(viaRest.seq).toBe(sent.seq + 1);
    await pass();
    expect(leaked.filter(inConversation(conversationId))).toEqual([]);
  });

  test("typing and presence are seen across instances, once per transition", async () => {
    const [ann, bob] = await makeUsers("ann", "bob");
    const conversationId = await groupOn(a, bob!, [ann!]);
    const sBob = await connectTo(a, bob!);
    const pass = await fenceThrough(b, [{ userId: bob!, socket: sBob }]);
    const onlines = record(sBob, "user:online");
    const offlines = record(sBob, "user:offline");

    const online = nextEvent(sBob, "user:online", about(ann!));
    const onB = await connectTo(b, ann!);
    expect(await online).toMatchObject({ userId: ann, conversationId });
    const onA = await connectTo(a, ann!, { transports: ["polling"] });
    const rest = await restAs(a, bob!);
    expect((await rest.get(`/api/users/${ann}/presence`)).body.status).toBe("online");

    const typing = record(sBob, "user:typing");
    const started = nextEvent(sBob, "user:typing", about(ann!));
    await ok(onB, "typing:start", { conversationId });
    await ok(onA, "typing:start", { conversationId });
    expect(await started).toMatchObject({ conversationId, userId: ann, isActive: true });
    const stopped = nextEvent(sBob, "user:typing", (e: any) => e.userId === ann && !e.isActive);
    await ok(onA, "typing:stop", { conversationId });
    await stopped;

    onB.close();
    await pass();
    expect((await rest.get(`/api/users/${ann}/presence`)).body.status).toBe("online");
    const offline = nextEvent(sBob, "user:offline", about(ann!));
    onA.close();
    expect(await offline).toMatchObject({ userId: ann, conversationId, lastSeen: expect.any(String) });
    await pass();
    expect(onlines.filter(about(ann!))).toHaveLength(1);
    expect(offlines.filter(about(ann!))).toHaveLength(1);
    expect(typing.filter(about(ann!)).map((e) => e.isActive)).toEqual([true, false]);
    expect((await (await restAs(b, bob!)).get(`/api/users/${ann}/presence`)).body).toMatchObject({ status: "offline", lastSeen: expect.any(String) });
  });

  test("room moves made on one instance apply to sockets on the other", async () => {
    const [ann, bob, dan] = await makeUsers("ann", "bob", "dan");
    const sBob = await connectTo(b, bob!);
    const sDan = await connectTo(b, dan!);
    const sDan2 = await connectTo(a, dan!);
    const pass = await fenceThrough(a, [
      { userId: bob!, socket: sBob },
      { userId: dan!, socket: sDan },
      { userId: dan!, socket: sDan2 },
    ]);

    // Created on A: Bob's socket on B is told and already in the room.
    const created = nextEvent(sBob, "conversation:new", (c: any) => c.name === "moves");
    const conversationId = await groupOn(a, ann!, [bob!], "moves");
    await created;
    const first = nextEvent(sBob, "message:new", inConversation(conversationId));
    await say(a, ann!, conversationId, "first");
    await first;

    // Dan added through A: his sockets on both instances join.
    const joined = [sDan, sDan2].map((s) => nextEvent(s, "conversation:joined"));
    expect((await (await restAs(a, ann!)).post(`/api/conversations/${conversationId}/participants`, { userIds: [dan] })).status).toBe(200);
    await Promise.all(joined);
    const heard = [sDan, sDan2].map((s) => nextEvent(s, "message:new", inConversation(conversationId)));
    await say(a, bob!, conversationId, "hello dan");
    await Promise.all(heard);

    // Removed through A: his socket on B leaves the room at once.
    const removed = nextEvent(sDan, "conversation:removed");
    expect((await (await restAs(a, ann!)).delete(`/api/conversations/${conversationId}/participants/${dan}`)).status).toBe(204);
    expect(await removed).toEqual({ conversationId });
    const after = [record(sDan, "message:new"), record(sDan2, "message:new")];
    await say(a, ann!, conversationId, "after dan");
    await pass();
    expect(after.flat().filter(inConversation(conversationId))).toEqual([]);
    expect(await call(sDan, "typing:start", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });

    // A user deleted through A loses their sockets on B.
    const error = nextEvent(sDan, "error");
    const gone = new Promise<string>((resolve) => sDan.once("disconnect", resolve));
    expect((await internal(a, "DELETE", `/api/users/${dan}`)).status).toBe(204);
    expect(await error).toMatchObject({ code: "USER_NOT_FOUND" });
    expect(await gone).toBe("io server disconnect");
  });

  test("a token revocation made through one instance cuts the sockets holding it on both within a second", async () => {
    const [eve] = await makeUsers("eve");
    const mark = Math.floor(Date.now() / 1000) - 10;
    const old = await mintToken(eve!, { issuedAt: mark - 1 });
    const [onA, onB] = [await connectSocket(a.wsUrl, old), await connectSocket(b.wsUrl, old)].map((c) => c.socket);
    const fresh = (await connectSocket(b.wsUrl, await mintToken(eve!, { issuedAt: mark + 1 }))).socket;
    const cut = [onA!, onB!].map((socket) =>
      Promise.all([nextEvent(socket, "error", () => true, 1000), new Promise<string>((resolve) => socket.once("disconnect", resolve))]),
    );
    expect((await internal(a, "POST", `/api/users/${eve}/revoke-tokens`, { before: mark })).status).toBe(200);
    for (const [error, reason] of await Promise.all(cut)) {
      expect(error).toMatchObject({ code: "UNAUTHORIZED" });
      expect(reason).toBe("io server disconnect");
    }
    expect(fresh.connected).toBe(true);
    const refused = await sendRequest(b.url, "GET", "/api/conversations", { headers: { authorization: `Bearer ${old}` } });
    expect(refused.status).toBe(401);
  });

  test("an instance stopped with SIGTERM announces its users offline at once; their clients may reconnect", async () => {
    // A long TTL on the stopping instance: an offline seen within seconds was announced, not swept.
    const d = await cluster.start({ PRESENCE_TTL_MS: "60000" });
    const [ann, bob] = await makeUsers("ann", "bob");
    const conversationId = await groupOn(a, bob!, [ann!]);
    const sBob = await connectTo(a, bob!);
    const online = nextEvent(sBob, "user:online", about(ann!));
    const sAnn = await connectTo(d, ann!);
    await online;
    const offline = nextEvent(sBob, "user:offline", about(ann!), 15_000);
    const reason = new Promise<string>((resolve) => sAnn.once("disconnect", resolve));
    await d.stop();
    expect(d.output()).not.toMatch(/"level":"error"/);
    expect(await offline).toMatchObject({ userId: ann, conversationId });
    // Not "io server disconnect": socket.io-client reconnects by itself, to another instance.
    expect(await reason).toBe("transport close");
  }, 60_000);

  test("kill -9 of an instance: its users go offline within the presence TTL, their typing ends", async () => {
    const c = await cluster.start();
    const [ann, bob] = await makeUsers("ann", "bob");
    const conversationId = await groupOn(a, bob!, [ann!]);
    const sBob = await connectTo(a, bob!);
    const online = nextEvent(sBob, "user:online", about(ann!));
    const sAnn = await connectTo(c, ann!);
    await online;
    const typing = nextEvent(sBob, "user:typing", about(ann!));
    await ok(sAnn, "typing:start", { conversationId });
    await typing;

    const typingEnded = nextEvent(sBob, "user:typing", (e: any) => e.userId === ann && !e.isActive, TYPING_TTL_MS + 8000);
    const offline = nextEvent(sBob, "user:offline", about(ann!), PRESENCE_TTL_MS + 8000);
    const killedAt = Date.now();
    await c.crash();
    await typingEnded;
    expect(await offline).toMatchObject({ userId: ann, conversationId, lastSeen: expect.any(String) });
    // Entries expire PRESENCE_TTL_MS after the last heartbeat; the sweep runs every TTL/4.
    expect(Date.now() - killedAt).toBeLessThan(PRESENCE_TTL_MS * 2);
    expect((await (await restAs(b, bob!)).get(`/api/users/${ann}/presence`)).body.status).toBe("offline");
  }, 60_000);
});
