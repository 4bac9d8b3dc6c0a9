import { describe, expect, test } from "bun:test";
import type { Context } from "../../src/core/context";
import { CONNECTING_USER } from "../../src/conversations/membership";
import { call, connectAs, fence, group, makeUsers, ok } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { io } from "socket.io-client";
import { connectSocket, eventually, nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

/** Sends a message through REST and returns it; the room hears message:new. */
async function say(userId: string, conversationId: string, content: string) {
  const res = await (await svc.as(userId)).post(`/api/conversations/${conversationId}/messages`, { content });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
const inConversation = (conversationId: string) => (e: any) => e.conversationId === conversationId;

describe("conversation:new", () => {
  test("reaches every participant's sockets, which join the room at once; never outsiders", async () => {
    const [ann, bob, cat, eve] = await makeUsers(svc, "ann", "bob", "cat", "eve");
    const s = {
      ann: await connectAs(svc.url, svc, ann!),
      bob: await connectAs(svc.wsUrl, svc, bob!),
      bob2: await connectAs(svc.url, svc, bob!, { transports: ["polling"] }),
      cat: await connectAs(svc.wsUrl, svc, cat!),
      eve: await connectAs(svc.wsUrl, svc, eve!),
    };
    const wall = await fence(svc, [
      { userId: ann!, socket: s.ann },
      { userId: eve!, socket: s.eve },
    ]);
    const leaked = [record(s.eve, "conversation:new"), record(s.eve, "message:new")];
    const created = [s.ann, s.bob, s.bob2, s.cat].map((socket) => nextEvent(socket, "conversation:new", (c: any) => c.name === "trio"));
    const res = await (await svc.as(ann!)).post("/api/conversations", { type: "group", participantIds: [bob, cat], name: "trio" });
    expect(res.status).toBe(201);
    for (const conversation of await Promise.all(created)) {
      expect(conversation).toMatchObject({ id: res.body.id, type: "group", name: "trio", createdBy: ann, unreadCount: 0 });
      expect(conversation.participants.map((p: any) => p.userId).sort()).toEqual([ann, bob, cat].sort());
    }
    const heard = [s.ann, s.bob, s.bob2, s.cat].map((socket) => nextEvent(socket, "message:new", inConversation(res.body.id)));
    await say(cat!, res.body.id, "hi all");
    await Promise.all(heard);
    await wall.pass();
    expect(leaked.flat().filter((e: any) => e.id === res.body.id || e.conversationId === res.body.id)).toEqual([]);
  });

  test("a direct conversation asked for again emits nothing new", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const sBob = await connectAs(svc.wsUrl, svc, bob!);
    const news = record(sBob, "conversation:new");
    const first = nextEvent(sBob, "conversation:new");
    const rest = await svc.as(ann!);
    const created = await rest.post("/api/conversations", { type: "direct", participantIds: [bob] });
    expect(created.status).toBe(201);
    expect((await first).type).toBe("direct");
    expect((await rest.post("/api/conversations", { type: "direct", participantIds: [bob] })).status).toBe(200);
    const wall = await fence(svc, [{ userId: bob!, socket: sBob }]);
    await wall.pass();
    expect(news.filter((c) => c.type === "direct")).toHaveLength(1);
  });
});

describe("participants added and removed", () => {
  test("an added user gets conversation:joined and the room's events from then on; the room gets participant:added", async () => {
    const [ann, bob, dan] = await makeUsers(svc, "ann", "bob", "dan");
    const conversationId = await group(svc, ann!, [bob!]);
    const sBob = await connectAs(svc.url, svc, bob!);
    const sDan = await connectAs(svc.wsUrl, svc, dan!);
    const sDan2 = await connectAs(svc.url, svc, dan!, { transports: ["polling"] });
    const before = record(sDan, "message:new");
    await say(ann!, conversationId, "before dan");

    const joined = [sDan, sDan2].map((s) => nextEvent(s, "conversation:joined"));
    const added = nextEvent(sBob, "participant:added");
    const res = await (await svc.as(ann!)).post(`/api/conversations/${conversationId}/participants`, { userIds: [dan] });
    expect(res.status).toBe(200);
    for (const conversation of await Promise.all(joined)) {
      expect(conversation).toMatchObject({ id: conversationId });
      expect(conversation.participants.map((p: any) => p.userId)).toContain(dan);
    }
    expect(await added).toMatchObject({ conversationId, userId: dan, timestamp: expect.any(String) });

    const heard = [sDan, sDan2].map((s) => nextEvent(s, "message:new", inConversation(conversationId)));
    await say(bob!, conversationId, "welcome dan");
    expect((await Promise.all(heard)).map((m) => m.content)).toEqual(["welcome dan", "welcome dan"]);
    expect(before.filter((m) => m.content === "before dan")).toEqual([]);
    // The room is also joined for typing: Bob sees Dan typing.
    const typing = nextEvent(sBob, "user:typing");
    await ok(sDan, "typing:start", { conversationId });
    expect(await typing).toMatchObject({ userId: dan, isActive: true });
  });

  test("a removed user gets conversation:removed and nothing more from the room; the room gets participant:removed", async () => {
    const [ann, bob, dan] = await makeUsers(svc, "ann", "bob", "dan");
    const conversationId = await group(svc, ann!, [bob!, dan!]);
    const sBob = await connectAs(svc.url, svc, bob!);
    const sDan = await connectAs(svc.wsUrl, svc, dan!);
    const wall = await fence(svc, [
      { userId: bob!, socket: sBob },
      { userId: dan!, socket: sDan },
    ]);

    const removed = nextEvent(sDan, "conversation:removed");
    const gone = nextEvent(sBob, "participant:removed");
    expect((await (await svc.as(ann!)).delete(`/api/conversations/${conversationId}/participants/${dan}`)).status).toBe(204);
    expect(await removed).toEqual({ conversationId });
    expect(await gone).toMatchObject({ conversationId, userId: dan });

    const after = [record(sDan, "message:new"), record(sDan, "user:typing"), record(sDan, "participant:removed")];
    await say(ann!, conversationId, "after dan");
    await ok(sBob, "typing:start", { conversationId });
    await wall.pass();
    expect(after.flat().filter(inConversation(conversationId))).toEqual([]);
    // Nor can Dan come back through room:join, or type there.
    expect(await call(sDan, "room:join", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sDan, "typing:start", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });

  test("a user who leaves gets conversation:removed and their sockets leave the room", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const sBob = await connectAs(svc.url, svc, bob!);
    const wall = await fence(svc, [{ userId: bob!, socket: sBob }]);
    const removed = nextEvent(sBob, "conversation:removed");
    expect((await (await svc.as(bob!)).delete(`/api/conversations/${conversationId}/participants/${bob}`)).status).toBe(204);
    expect(await removed).toEqual({ conversationId });
    const after = record(sBob, "message:new");
    await say(ann!, conversationId, "after bob left");
    await wall.pass();
    expect(after.filter(inConversation(conversationId))).toEqual([]);
  });

  test("a role change reaches the room as participant:updated; asking for the same role emits nothing", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const conversationId = await group(svc, ann!, [bob!, cat!]);
    const sBob = await connectAs(svc.url, svc, bob!);
    const sCat = await connectAs(svc.wsUrl, svc, cat!);
    const wall = await fence(svc, [
      { userId: bob!, socket: sBob },
      { userId: cat!, socket: sCat },
    ]);
    const updates = record(sCat, "participant:updated");
    const promoted = [sBob, sCat].map((socket) => nextEvent(socket, "participant:updated", inConversation(conversationId)));
    const owner = await svc.as(ann!);
    expect((await owner.patch(`/api/conversations/${conversationId}/participants/${bob}`, { role: "admin" })).status).toBe(200);
    for (const update of await Promise.all(promoted)) {
      expect(update).toEqual({ conversationId, userId: bob!, role: "admin", timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    }
    expect((await owner.patch(`/api/conversations/${conversationId}/participants/${bob}`, { role: "admin" })).status).toBe(200);
    await wall.pass();
    expect(updates.filter(inConversation(conversationId))).toHaveLength(1);
  });

  test("when the last owner leaves, or is deleted, the room hears who became owner", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const conversationId = await group(svc, ann!, [bob!, cat!]);
    await (await svc.as(ann!)).patch(`/api/conversations/${conversationId}/participants/${cat}`, { role: "admin" });
    const sBob = await connectAs(svc.url, svc, bob!);
    await connectAs(svc.wsUrl, svc, cat!); // the heir is online too

    const left = nextEvent(sBob, "participant:removed", inConversation(conversationId));
    const heir = nextEvent(sBob, "participant:updated", inConversation(conversationId));
    expect((await (await svc.as(ann!)).delete(`/api/conversations/${conversationId}/participants/${ann}`)).status).toBe(204);
    expect(await left).toMatchObject({ userId: ann });
    expect(await heir).toEqual({ conversationId, userId: cat!, role: "owner", timestamp: expect.any(String) });

    // Cat, now the last owner, is deleted through the internal API: Bob is next.
    const next = nextEvent(sBob, "participant:updated", (e: any) => e.conversationId === conversationId && e.userId === bob);
    expect((await svc.internal("DELETE", `/api/users/${cat}`)).status).toBe(204);
    expect(await next).toMatchObject({ conversationId, userId: bob, role: "owner" });
  });

  test("deleting a conversation tells every participant and empties the room", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const conversationId = await group(svc, ann!, [bob!, cat!]);
    const sockets = [await connectAs(svc.url, svc, ann!), await connectAs(svc.wsUrl, svc, bob!), await connectAs(svc.wsUrl, svc, cat!)];
    const removed = sockets.map((s) => nextEvent(s, "conversation:removed"));
    expect((await (await svc.as(ann!)).delete(`/api/conversations/${conversationId}`)).status).toBe(204);
    for (const event of await Promise.all(removed)) expect(event).toEqual({ conversationId });
    expect(await call(sockets[1]!, "typing:start", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });
});

describe("room:join and room:leave", () => {
  test("leave stops the room's events for that socket only; join brings them back", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const sBob = await connectAs(svc.url, svc, bob!);
    const sBob2 = await connectAs(svc.wsUrl, svc, bob!);
    const wall = await fence(svc, [
      { userId: bob!, socket: sBob },
      { userId: bob!, socket: sBob2 },
    ]);
    expect(await ok(sBob, "room:leave", { conversationId })).toEqual({ conversationId });
    const muted = record(sBob, "message:new");
    const other = nextEvent(sBob2, "message:new", inConversation(conversationId));
    await say(ann!, conversationId, "while away");
    await other;
    await wall.pass();
    expect(muted.filter(inConversation(conversationId))).toEqual([]);

    // Still a participant: typing works even outside the room.
    expect((await call(sBob, "typing:stop", { conversationId })).ok).toBe(true);
    expect(await ok(sBob, "room:join", { conversationId })).toEqual({ conversationId });
    const back = nextEvent(sBob, "message:new", inConversation(conversationId));
    await say(ann!, conversationId, "welcome back");
    expect((await back).content).toBe("welcome back");
  });

  test("joining a conversation one is not part of, or that does not exist, is NOT_FOUND", async () => {
    const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
    const conversationId = await group(svc, ann!, [bob!]);
    const sEve = await connectAs(svc.wsUrl, svc, eve!);
    expect(await call(sEve, "room:join", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sEve, "room:join", { conversationId: crypto.randomUUID() })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    const wall = await fence(svc, [{ userId: eve!, socket: sEve }]);
    const leaked = record(sEve, "message:new");
    await say(ann!, conversationId, "private");
    await wall.pass();
    expect(leaked.filter(inConversation(conversationId))).toEqual([]);
  });
});

/**
 * Holds back the answer of the next handshake's read of its user and conversations (the list a
 * new socket joins the rooms of): the statement runs at once, its result is delivered on release.
 */
function holdNextMembershipRead(ctx: Context) {
  const storage = ctx.storage;
  const query = storage.query;
  const released = Promise.withResolvers<void>();
  const executed = Promise.withResolvers<void>();
  storage.query = (<T>(text: string, params: unknown[]): Promise<T[]> => {
    if (text !== CONNECTING_USER) return query<T>(text, params);
    storage.query = query;
    const result = query<T>(text, params);
    void result.then(() => executed.resolve());
    return Promise.all([result, released.promise]).then(([rows]) => rows);
  }) as typeof query;
  return { executed: executed.promise, release: () => released.resolve() };
}

describe("room moves while a socket is connecting", () => {
  test("a removal committed while the socket reads its conversations keeps it out of that room", async () => {
    const [ann, dan] = await makeUsers(svc, "ann", "dan");
    const conversationId = await group(svc, ann!, [dan!]);
    const hold = holdNextMembershipRead(svc.app.ctx);
    const connecting = connectSocket(svc.wsUrl, await svc.token(dan!));
    await hold.executed; // the list, with the conversation in it, is read...
    expect((await (await svc.as(ann!)).delete(`/api/conversations/${conversationId}/participants/${dan}`)).status).toBe(204);
    hold.release(); // ...and arrives after the removal was applied.
    const { socket, connected } = await connecting;
    expect(connected.rooms).not.toContain(conversationId);
    const wall = await fence(svc, [{ userId: dan!, socket }]);
    const leaked = record(socket, "message:new");
    await say(ann!, conversationId, "after dan");
    await wall.pass();
    expect(leaked.filter(inConversation(conversationId))).toEqual([]);
  });

  test("an addition committed while the socket reads its conversations still puts it in the room", async () => {
    const [ann, dan] = await makeUsers(svc, "ann", "dan");
    const conversationId = await group(svc, ann!, [ann!]);
    const hold = holdNextMembershipRead(svc.app.ctx);
    const connecting = connectSocket(svc.wsUrl, await svc.token(dan!));
    await hold.executed; // the list is read without the conversation...
    expect((await (await svc.as(ann!)).post(`/api/conversations/${conversationId}/participants`, { userIds: [dan] })).status).toBe(200);
    hold.release();
    const { socket } = await connecting;
    const heard = nextEvent(socket, "message:new", inConversation(conversationId));
    await say(ann!, conversationId, "welcome dan");
    expect((await heard).content).toBe("welcome dan");
  });

  test("a socket whose client leaves while its conversations are read stops being noted, and its user connects again", async () => {
    const [dan] = await makeUsers(svc, "dan");
    const { realtime } = svc.app;
    const hold = holdNextMembershipRead(svc.app.ctx);
    const gone = io(svc.wsUrl, { auth: { token: await svc.token(dan!) }, transports: ["websocket"], reconnection: false, forceNew: true });
    await hold.executed;
    expect(realtime.connecting.size).toBe(1);
    gone.close();
    await Bun.sleep(50);
    hold.release();
    await eventually(() => realtime.connecting.size === 0, 5000, "the abandoned handshake forgotten");
    const { connected } = await connectSocket(svc.wsUrl, await svc.token(dan!));
    expect(connected.userId).toBe(dan!);
    expect(realtime.connecting.size).toBe(0);
  });
});

describe("disconnects while a socket is connecting", () => {
  type Outcome = { refused?: { code: string; message: string }; told?: { code: string; message: string }; reason?: string; connected: boolean };

  /**
   * Connects `userId`, running each of `changes` while one of the handshake's reads of its user is
   * held (a read the change notes a disconnect during is made again); resolves with how it ended.
   */
  async function connectWhile(userId: string, ...changes: (() => Promise<unknown>)[]): Promise<Outcome> {
    let hold = holdNextMembershipRead(svc.app.ctx);
    const socket = io(svc.wsUrl, { auth: { token: await svc.token(userId) }, transports: ["websocket"], reconnection: false, forceNew: true });
    const outcome: Outcome = { connected: false };
    const settled = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("neither refused, ended nor connected within 5 s")), 5000);
      const done = () => (clearTimeout(timer), resolve());
      socket.once("connect_error", (err: Error & { data?: { code: string; message: string } }) => ((outcome.refused = err.data), done()));
      socket.once("error", (error: { code: string; message: string }) => (outcome.told = error));
      socket.once("disconnect", (reason) => ((outcome.reason = reason), done()));
      socket.once("connected", () => ((outcome.connected = true), done()));
    });
    for (const [i, change] of changes.entries()) {
      await hold.executed; // the user is read...
      const held = hold;
      if (i < changes.length - 1) hold = holdNextMembershipRead(svc.app.ctx);
      await change();
      held.release(); // ...and the answer arrives after the change was applied.
    }
    await settled;
    const result = { ...outcome };
    socket.close();
    return result;
  }

  const api = (method: string, path: string, status: number) => async () => expect((await svc.internal(method, path, method === "POST" ? {} : undefined)).status).toBe(status);

  test("a suspension committed meanwhile: the user is read again and refused", async () => {
    const [ann] = await makeUsers(svc, "ann");
    expect(await connectWhile(ann!, api("POST", `/api/users/${ann}/suspend`, 200))).toEqual({ refused: { code: "FORBIDDEN", message: "User is suspended" }, connected: false });
  });

  test("a revocation of the token committed meanwhile: refused", async () => {
    const [ann] = await makeUsers(svc, "ann");
    expect((await connectWhile(ann!, api("POST", `/api/users/${ann}/revoke-tokens`, 200))).refused).toEqual({ code: "UNAUTHORIZED", message: "Token was revoked" });
  });

  test("a deletion committed meanwhile: refused", async () => {
    const [ann] = await makeUsers(svc, "ann");
    expect((await connectWhile(ann!, api("DELETE", `/api/users/${ann}`, 204))).refused).toMatchObject({ code: "USER_NOT_FOUND" });
  });

  test("a suspension made and lifted meanwhile: the socket connects", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const change = async () => {
      await api("POST", `/api/users/${ann}/suspend`, 200)();
      await api("POST", `/api/users/${ann}/unsuspend`, 200)();
    };
    expect(await connectWhile(ann!, change)).toEqual({ connected: true });
  });

  test("a disconnect during every read the handshake makes ends the socket as it connects, with its reason", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const change = async () => {
      await api("POST", `/api/users/${ann}/suspend`, 200)();
      await api("POST", `/api/users/${ann}/unsuspend`, 200)();
    };
    // The first read and both reads again.
    const outcome = await connectWhile(ann!, change, change, change);
    expect(outcome).toMatchObject({ told: { code: "FORBIDDEN", message: "User is suspended" }, reason: "io server disconnect", connected: false });
    expect(outcome.refused).toBeUndefined();
  });
});
