import { describe, expect, test } from "bun:test";
import { call, connectAs, fence, group, groupWithOutsider, makeUsers, ok } from "../helpers/realtime";
import { serviceForTests, type TestService } from "../helpers/service";
import { type ClientSocket, eventually, nextEvent, record } from "../helpers/sockets";

const SHORT_TYPING_TTL_MS = 2000;
const SHORT_PRESENCE_TTL_MS = 1500;
const svc = serviceForTests();
/** The same service with short TTLs, for expiry. */
const fast = serviceForTests({ TYPING_TTL_MS: String(SHORT_TYPING_TTL_MS), PRESENCE_TTL_MS: String(SHORT_PRESENCE_TTL_MS) });

const closed = (socket: ClientSocket) =>
  new Promise<void>((resolve) => {
    socket.once("disconnect", () => resolve());
    socket.close();
  });
const about = (userId: string) => (e: any) => e.userId === userId;

/** Ann (two sockets) and Bob share a conversation; Eve is outside it. */
async function typingScene(service: TestService) {
  const [ann, bob, eve] = await makeUsers(service, "ann", "bob", "eve");
  const conversationId = await group(service, ann!, [bob!]);
  const s = {
    ann: await connectAs(service.url, service, ann!),
    ann2: await connectAs(service.wsUrl, service, ann!),
    bob: await connectAs(service.wsUrl, service, bob!),
    eve: await connectAs(service.wsUrl, service, eve!),
  };
  const wall = await fence(service, [
    { userId: bob!, socket: s.bob },
    { userId: ann!, socket: s.ann },
    { userId: ann!, socket: s.ann2 },
    { userId: eve!, socket: s.eve },
  ]);
  return { ann: ann!, bob: bob!, conversationId, s, wall };
}

describe("typing and recording", () => {
  test("start reaches the room once, not the sender's own sockets; stop ends it once", async () => {
    const { ann, conversationId, s, wall } = await typingScene(svc);
    const atBob = record(s.bob, "user:typing");
    const own = [record(s.ann, "user:typing"), record(s.ann2, "user:typing"), record(s.eve, "user:typing")];
    const started = nextEvent(s.bob, "user:typing");
    // A client that sends typing:start on every keystroke, from two devices.
    for (let i = 0; i < 15; i++) expect(await ok(i % 2 ? s.ann2 : s.ann, "typing:start", { conversationId })).toEqual({});
    expect(await started).toEqual({ conversationId, userId: ann, type: "typing", isActive: true, timestamp: expect.any(String) });
    await wall.pass();
    expect(atBob).toHaveLength(1);

    await ok(s.ann, "typing:stop", { conversationId });
    await ok(s.ann2, "typing:stop", { conversationId });
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true, false]);
    expect(own.flat()).toEqual([]);
  });

  test("recording uses user:recording with type recording", async () => {
    const { ann, conversationId, s, wall } = await typingScene(svc);
    const atBob = record(s.bob, "user:recording");
    const typing = record(s.bob, "user:typing");
    await ok(s.ann, "recording:start", { conversationId });
    await ok(s.ann, "recording:stop", { conversationId });
    await wall.pass();
    expect(atBob.map((e) => [e.type, e.isActive, e.userId])).toEqual([
      ["recording", true, ann],
      ["recording", false, ann],
    ]);
    expect(typing).toEqual([]);
  });

  test("a disconnect ends the indicators its socket started, once", async () => {
    const { conversationId, s, wall } = await typingScene(svc);
    const atBob = record(s.bob, "user:typing");
    const recording = record(s.bob, "user:recording");
    await ok(s.ann2, "typing:start", { conversationId });
    await ok(s.ann2, "recording:start", { conversationId });
    const ended = nextEvent(s.bob, "user:typing", (e: any) => !e.isActive);
    await closed(s.ann2);
    await ended;
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true, false]);
    expect(recording.map((e) => e.isActive)).toEqual([true, false]);
  });

  test(`an indicator ends by itself TYPING_TTL_MS after the last start, once`, async () => {
    const { conversationId, s, wall } = await typingScene(fast);
    const atBob = record(s.bob, "user:typing");
    const started = Date.now();
    await ok(s.ann, "typing:start", { conversationId });
    const ended = await nextEvent(s.bob, "user:typing", (e: any) => !e.isActive, SHORT_TYPING_TTL_MS + 5000);
    expect(ended.isActive).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_TYPING_TTL_MS - 50);
    // The stop that comes late, and the socket's disconnect, announce nothing more.
    await ok(s.ann, "typing:stop", { conversationId });
    await closed(s.ann);
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true, false]);
  }, 20_000);

  test("a start keeps extending the TTL: the indicator stays on while the user keeps typing", async () => {
    const { conversationId, s, wall } = await typingScene(fast);
    const atBob = record(s.bob, "user:typing");
    const until = Date.now() + SHORT_TYPING_TTL_MS * 1.5;
    while (Date.now() < until) {
      await ok(s.ann, "typing:start", { conversationId });
      await Bun.sleep(SHORT_TYPING_TTL_MS / 8);
    }
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true]);
    await nextEvent(s.bob, "user:typing", (e: any) => !e.isActive, SHORT_TYPING_TTL_MS + 5000);
  }, 20_000);

  test("typing where one is not a participant is NOT_FOUND", async () => {
    const { conversationId, s } = await typingScene(svc);
    expect(await call(s.eve, "typing:start", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.eve, "recording:start", { conversationId: crypto.randomUUID() })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });
});

describe("presence", () => {
  test("online once on the first socket, offline once after the last, with lastSeen; REST agrees", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, bob!, [ann!]);
    const sBob = await connectAs(svc.wsUrl, svc, bob!);
    const wall = await fence(svc, [{ userId: bob!, socket: sBob }]);
    const rest = await svc.as(bob!);
    const presence = async () => (await rest.get(`/api/users/${ann}/presence`)).body;
    expect(await presence()).toEqual({ userId: ann, status: "offline", lastSeen: null });

    const onlines = record(sBob, "user:online");
    const offlines = record(sBob, "user:offline");
    const first = nextEvent(sBob, "user:online", about(ann!));
    const a1 = await connectAs(svc.url, svc, ann!);
    expect(await first).toEqual({ userId: ann!, conversationId, timestamp: expect.any(String) });
    const a2 = await connectAs(svc.wsUrl, svc, ann!, { transports: ["polling"] });
    expect((await presence()).status).toBe("online");
    expect((await rest.post("/api/presence/batch", { userIds: [ann, bob, "nobody"] })).body.data.map((p: any) => p.status)).toEqual(["online", "online", "offline"]);

    await closed(a1);
    await wall.pass();
    expect((await presence()).status).toBe("online");
    const last = nextEvent(sBob, "user:offline", about(ann!));
    await closed(a2);
    const offline = await last;
    expect(offline).toEqual({ userId: ann!, conversationId, lastSeen: expect.any(String), timestamp: expect.any(String) });
    await wall.pass();
    expect(onlines.filter(about(ann!))).toHaveLength(1);
    expect(offlines.filter(about(ann!))).toHaveLength(1);
    const after = await presence();
    expect(after).toEqual({ userId: ann, status: "offline", lastSeen: offline.lastSeen });
    const members = (await rest.get(`/api/conversations/${conversationId}/presence`)).body.data;
    expect(members).toContainEqual({ userId: ann, status: "offline", lastSeen: offline.lastSeen });
    expect(members).toContainEqual(expect.objectContaining({ userId: bob, status: "online" }));
  });

  test("user:online and user:offline reach co-participants only", async () => {
    const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
    await group(svc, bob!, [ann!]);
    const sBob = await connectAs(svc.wsUrl, svc, bob!);
    const sEve = await connectAs(svc.wsUrl, svc, eve!);
    const wall = await fence(svc, [
      { userId: bob!, socket: sBob },
      { userId: eve!, socket: sEve },
    ]);
    const leaked = [record(sEve, "user:online"), record(sEve, "user:offline")];
    const seen = nextEvent(sBob, "user:offline", about(ann!));
    await closed(await connectAs(svc.url, svc, ann!));
    await seen;
    await wall.pass();
    expect(leaked.flat().filter(about(ann!))).toEqual([]);
  });

  test("activity:ping answers {} and keeps the user online", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.url, svc, ann!);
    expect(await ok(socket, "activity:ping", {})).toEqual({});
    expect(await ok(socket, "activity:ping")).toEqual({});
    expect((await (await svc.as(ann!)).get(`/api/users/${ann}/presence`)).body.status).toBe("online");
  });

  test("connections nobody refreshes any more (their instance died) expire and are announced offline", async () => {
    const [ann, bob] = await makeUsers(fast, "ann", "bob");
    await group(fast, bob!, [ann!]);
    const sBob = await connectAs(fast.wsUrl, fast, bob!);
    // An entry written by an instance that is gone: only the sweep can end it.
    await fast.app.ctx.store.presenceTouch([{ userId: ann!, connectionId: "dead-instance:socket" }], SHORT_PRESENCE_TTL_MS);
    await fast.app.ctx.store.presenceTouch([{ userId: ann!, connectionId: "dead-instance:socket" }], SHORT_PRESENCE_TTL_MS);
    const rest = await fast.as(bob!);
    expect((await rest.get(`/api/users/${ann}/presence`)).body.status).toBe("online");
    const offline = await nextEvent(sBob, "user:offline", about(ann!), SHORT_PRESENCE_TTL_MS + 5000);
    expect(offline.lastSeen).toEqual(expect.any(String));
    expect((await rest.get(`/api/users/${ann}/presence`)).body).toEqual({ userId: ann, status: "offline", lastSeen: offline.lastSeen });
  }, 20_000);
});

describe("presence in crowded conversations", () => {
  /** Rooms of more than three participants hear no presence events. */
  const crowded = serviceForTests({ PRESENCE_MAX_ROOM_SIZE: "3" });

  test("a 4-member group hears nothing of a user's presence while their 2-member conversation does; at 3 members it hears again", async () => {
    const [ann, bob, cat, dan, eve] = await makeUsers(crowded, "ann", "bob", "cat", "dan", "eve");
    const big = await group(crowded, bob!, [ann!, cat!, dan!]);
    const pair = await group(crowded, eve!, [ann!]);
    const sBob = await connectAs(crowded.wsUrl, crowded, bob!);
    const sEve = await connectAs(crowded.wsUrl, crowded, eve!);
    const wall = await fence(crowded, [
      { userId: bob!, socket: sBob },
      { userId: eve!, socket: sEve },
    ]);
    const atBob = [record(sBob, "user:online"), record(sBob, "user:offline")];

    const online = nextEvent(sEve, "user:online", about(ann!));
    const sAnn = await connectAs(crowded.url, crowded, ann!);
    expect(await online).toMatchObject({ userId: ann, conversationId: pair });
    const offline = nextEvent(sEve, "user:offline", about(ann!));
    await closed(sAnn);
    expect(await offline).toMatchObject({ userId: ann, conversationId: pair });
    // Both rooms' events leave in one go: by the time Eve heard hers and the fence passed, Bob's would be here.
    await wall.pass();
    expect(atBob.flat().filter(about(ann!))).toEqual([]);
    // The crowded room's members ask instead.
    const asked = await (await crowded.as(bob!)).get(`/api/conversations/${big}/presence`);
    expect(asked.body.data.find(about(ann!))).toMatchObject({ status: "offline", lastSeen: expect.any(String) });

    // Dan leaves: three members, and the group hears Ann again.
    expect((await (await crowded.as(dan!)).delete(`/api/conversations/${big}/participants/${dan}`)).status).toBe(204);
    const heard = nextEvent(sBob, "user:online", (e: any) => e.userId === ann && e.conversationId === big);
    await connectAs(crowded.url, crowded, ann!);
    expect(await heard).toMatchObject({ userId: ann, conversationId: big });
  });
});

describe("presence:get", () => {
  test("the participants' presence, in user id order, for participants only", async () => {
    const { ann, bob, conversationId, sockets } = await groupWithOutsider(svc);
    const bobRest = await svc.as(bob);
    const restPresence = async () => (await bobRest.get(`/api/conversations/${conversationId}/presence`)).body;
    // lastSeen is written just after a user comes online: wait until both have one.
    await eventually(async () => (await restPresence()).data.every((p: { lastSeen: string | null }) => p.lastSeen !== null), 5000, "lastSeen written");
    const snapshot = await ok(sockets.bob, "presence:get", { conversationId });
    const rest = await restPresence();
    expect(snapshot).toEqual({ data: [ann, bob].sort().map((userId) => ({ userId, status: "online", lastSeen: expect.any(String) })), hasMore: false });
    expect(snapshot.data).toEqual(rest.data);
    expect(await call(sockets.eve, "presence:get", { conversationId })).toEqual({ ok: false, error: { code: "NOT_FOUND", message: expect.any(String) } });
    expect(await call(sockets.eve, "presence:get", { conversationId: "zzz" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });

  test("at most 1,000 rows, and hasMore when there are more participants", async () => {
    const [owner] = await makeUsers(svc, "owner");
    const members = Array.from({ length: 1000 }, (_, i) => `${owner}-m${String(i).padStart(4, "0")}`);
    await svc.syncUsers(...members);
    const conversationId = await group(svc, owner!, members);
    const socket = await connectAs(svc.url, svc, owner!);
    const snapshot = await ok(socket, "presence:get", { conversationId });
    expect(snapshot.hasMore).toBe(true);
    expect(snapshot.data).toHaveLength(1000);
    expect(snapshot.data.map((p: { userId: string }) => p.userId)).toEqual([owner!, ...members].sort().slice(0, 1000));
  });
});
