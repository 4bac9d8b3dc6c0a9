/**
 * Blocks: while Ann blocks Bob, Bob can read but not act in their direct conversation, cannot
 * bring Ann into a conversation, and sees Ann offline; Ann acts as before, and groups they share
 * carry on. Bob is told nothing beyond the refusals.
 */
import { describe, expect, test } from "bun:test";
import { call, connectAs, fence, makeUsers, ok } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { eventually, nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

/** Ann and Bob with a direct conversation holding one message of each; Ann then blocks Bob. */
async function blockedPair() {
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const a = await svc.as(ann!);
  const b = await svc.as(bob!);
  const direct = await a.post("/api/conversations", { type: "direct", participantIds: [bob] });
  expect(direct.status).toBe(201);
  const conversationId: string = direct.body.id;
  const fromAnn = (await a.post(`/api/conversations/${conversationId}/messages`, { content: "hi bob" })).body;
  const fromBob = (await b.post(`/api/conversations/${conversationId}/messages`, { content: "hi ann", clientMessageId: "bob-1" })).body;
  expect((await a.put(`/api/me/blocks/${bob}`)).status).toBe(204);
  return { ann: ann!, bob: bob!, a, b, conversationId, fromAnn, fromBob };
}

describe("blocking over REST", () => {
  test("PUT is idempotent, GET lists, DELETE lifts (also when not blocked)", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const a = await svc.as(ann!);
    expect((await a.put(`/api/me/blocks/${bob}`)).status).toBe(204);
    const first = await a.get("/api/me/blocks");
    expect((await a.put(`/api/me/blocks/${bob}`)).status).toBe(204);
    expect((await a.put(`/api/me/blocks/${cat}`)).status).toBe(204);
    const listed = await a.get("/api/me/blocks");
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((b: any) => b.userId)).toEqual([bob, cat]);
    expect(listed.body.data[0]).toEqual(first.body.data[0]);
    expect(listed.body).toMatchObject({ hasMore: false, nextCursor: null });
    expect(Object.keys(listed.body.data[0]).sort()).toEqual(["createdAt", "userId"]);

    const page = await a.get("/api/me/blocks?limit=1");
    expect(page.body).toMatchObject({ data: [{ userId: bob }], hasMore: true });
    const next = await a.get(`/api/me/blocks?limit=1&cursor=${page.body.nextCursor}`);
    expect(next.body).toMatchObject({ data: [{ userId: cat }], hasMore: false, nextCursor: null });

    // Bob's own list is his: Ann's block is not in it.
    expect((await (await svc.as(bob!)).get("/api/me/blocks")).body.data).toEqual([]);

    expect((await a.delete(`/api/me/blocks/${bob}`)).status).toBe(204);
    expect((await a.delete(`/api/me/blocks/${bob}`)).status).toBe(204);
    expect((await a.get("/api/me/blocks")).body.data.map((b: any) => b.userId)).toEqual([cat]);
  });

  test("bad input changes nothing", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const a = await svc.as(ann!);
    expectError(await a.put(`/api/me/blocks/${ann}`), 400, "VALIDATION_ERROR");
    expectError(await a.put("/api/me/blocks/nobody-synced-this"), 404, "NOT_FOUND");
    expectError(await a.put("/api/me/blocks/bad%20id"), 400, "VALIDATION_ERROR");
    expectError(await a.get("/api/me/blocks?cursor=%%%"), 400, "VALIDATION_ERROR");
    expectError(await a.get("/api/me/blocks?limit=101"), 400, "VALIDATION_ERROR");
    expect((await a.get("/api/me/blocks")).body.data).toEqual([]);
  });

  test("the blocked user cannot send, edit or react in the direct conversation, and still reads it", async () => {
    const { bob, a, b, conversationId, fromAnn, fromBob } = await blockedPair();
    expectError(await b.post(`/api/conversations/${conversationId}/messages`, { content: "let me in" }), 403, "FORBIDDEN");
    expectError(await b.patch(`/api/messages/${fromBob.id}`, { content: "edited" }), 403, "FORBIDDEN");
    expectError(await b.post(`/api/messages/${fromAnn.id}/reactions`, { emoji: "👍" }), 403, "FORBIDDEN");
    // A retry of a message stored before the block still answers the stored message.
    const retry = await b.post(`/api/conversations/${conversationId}/messages`, { content: "hi ann", clientMessageId: "bob-1" });
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(fromBob.id);

    const history = await b.get(`/api/conversations/${conversationId}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.data.map((m: any) => m.content)).toEqual(["hi bob", "hi ann"]);
    expect((await b.get(`/api/conversations/${conversationId}`)).status).toBe(200);
    expect((await b.put(`/api/conversations/${conversationId}/read`, {})).status).toBe(200);

    // Ann, the blocker, is unaffected.
    expect((await a.post(`/api/conversations/${conversationId}/messages`, { content: "still me" })).status).toBe(201);
    expect((await a.post(`/api/messages/${fromBob.id}/reactions`, { emoji: "👍" })).status).toBe(201);
    expect((await a.patch(`/api/messages/${fromAnn.id}`, { content: "hi bob!" })).status).toBe(200);
    // Nothing Bob tried was stored.
    const after = await a.get(`/api/conversations/${conversationId}/messages`);
    expect(after.body.data.map((m: any) => m.content)).toEqual(["hi bob!", "hi ann", "still me"]);
    expect(after.body.data[1].reactions).toEqual([{ emoji: "👍", count: 1, userIds: [a.userId] }]);
    expect(bob).toBeDefined();
  });

  test("the blocked user can neither change nor delete the direct conversation; the blocker can change it", async () => {
    const { a, b, conversationId } = await blockedPair();
    const annSocket = await connectAs(svc.url, svc, a.userId);
    const annHears = record(annSocket, "conversation:updated");
    expectError(await b.patch(`/api/conversations/${conversationId}`, { metadata: { title: "you cannot escape me" } }), 403, "FORBIDDEN");
    expectError(await b.delete(`/api/conversations/${conversationId}`), 403, "FORBIDDEN");
    // Ann still reads the whole history, and heard nothing of Bob's attempts.
    const history = await a.get(`/api/conversations/${conversationId}/messages`);
    expect(history.body.data.map((m: any) => m.content)).toEqual(["hi bob", "hi ann"]);
    expect((await a.get(`/api/conversations/${conversationId}`)).body.metadata).toEqual({});
    expect((await a.patch(`/api/conversations/${conversationId}`, { metadata: { pinnedNote: "mine" } })).status).toBe(200);
    await (await fence(svc, [{ userId: a.userId, socket: annSocket }])).pass();
    expect(annHears.map((e) => e.metadata)).toEqual([{ pinnedNote: "mine" }]);
  });

  test("unblocking restores everything", async () => {
    const { bob, a, b, conversationId, fromBob } = await blockedPair();
    expect((await a.delete(`/api/me/blocks/${bob}`)).status).toBe(204);
    expect((await b.post(`/api/conversations/${conversationId}/messages`, { content: "back" })).status).toBe(201);
    expect((await b.patch(`/api/messages/${fromBob.id}`, { content: "edited" })).status).toBe(200);
    expect((await b.post("/api/conversations", { type: "direct", participantIds: [a.userId] })).status).toBe(200);
  });

  test("the blocked user cannot open a direct conversation nor bring the blocker into a group; the blocker can", async () => {
    const { ann, bob, a, b, conversationId } = await blockedPair();
    const [cat] = await makeUsers(svc, "cat");
    expectError(await b.post("/api/conversations", { type: "direct", participantIds: [ann] }), 403, "FORBIDDEN");
    expectError(await b.post("/api/conversations", { type: "group", participantIds: [ann, cat] }), 403, "FORBIDDEN");
    const bobsGroup = await b.post("/api/conversations", { type: "group", participantIds: [cat] });
    expect(bobsGroup.status).toBe(201);
    expectError(await b.post(`/api/conversations/${bobsGroup.body.id}/participants`, { userIds: [ann] }), 403, "FORBIDDEN");
    expect((await b.get(`/api/conversations/${bobsGroup.body.id}`)).body.participants.map((p: any) => p.userId)).toEqual([bob, cat]);

    // Bob left the direct conversation: asking for it again does not bring him back.
    expect((await b.delete(`/api/conversations/${conversationId}/participants/${bob}`)).status).toBe(204);
    expectError(await b.post("/api/conversations", { type: "direct", participantIds: [ann] }), 403, "FORBIDDEN");
    expectError(await b.get(`/api/conversations/${conversationId}`), 404, "NOT_FOUND");

    // Ann opens it and adds Bob where she likes.
    expect((await a.post("/api/conversations", { type: "direct", participantIds: [bob] })).status).toBe(200);
    const annsGroup = await a.post("/api/conversations", { type: "group", participantIds: [cat] });
    expect((await a.post(`/api/conversations/${annsGroup.body.id}/participants`, { userIds: [bob] })).status).toBe(200);
  });

  test("a group they share is unaffected", async () => {
    const { ann, bob, a, b } = await blockedPair();
    const groupId = (await a.post("/api/conversations", { type: "group", participantIds: [bob] })).body.id;
    const sent = await b.post(`/api/conversations/${groupId}/messages`, { content: "in the group" });
    expect(sent.status).toBe(201);
    expect((await b.patch(`/api/messages/${sent.body.id}`, { content: "edited" })).status).toBe(200);
    expect((await b.post(`/api/messages/${sent.body.id}/reactions`, { emoji: "👍" })).status).toBe(201);
    expect((await a.get(`/api/conversations/${groupId}/messages`)).body.data.map((m: any) => m.senderId)).toEqual([bob]);
    expect(ann).toBeDefined();
  });
});

describe("blocking over sockets", () => {
  test("the blocked user's send, edit, reaction, typing and recording are refused; the blocker's go through", async () => {
    const { ann, bob, conversationId, fromAnn, fromBob } = await blockedPair();
    const sAnn = await connectAs(svc.wsUrl, svc, ann);
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const forbidden = (res: any) => expect(res.ok ? "ok" : res.error.code).toBe("FORBIDDEN");
    forbidden(await call(sBob, "message:send", { conversationId, content: "let me in" }));
    forbidden(await call(sBob, "message:edit", { messageId: fromBob.id, content: "edited" }));
    forbidden(await call(sBob, "reaction:add", { messageId: fromAnn.id, emoji: "👍" }));
    forbidden(await call(sBob, "typing:start", { conversationId }));
    forbidden(await call(sBob, "recording:start", { conversationId }));
    const synced = await ok(sBob, "messages:sync", { conversationId });
    expect(synced.messages.map((m) => m.content)).toEqual(["hi bob", "hi ann"]);

    const atBob = nextEvent(sBob, "message:new", (m) => m.conversationId === conversationId);
    const sent = await ok(sAnn, "message:send", { conversationId, content: "from ann" });
    expect(await atBob).toEqual(sent);
  });

  test("the blocker's typing, recording and reads do not reach the blocked user; in a shared group they do", async () => {
    const { ann, bob, conversationId, a } = await blockedPair();
    const [cat] = await makeUsers(svc, "cat");
    const groupId = (await a.post("/api/conversations", { type: "group", participantIds: [bob, cat] })).body.id;
    const sAnn = await connectAs(svc.wsUrl, svc, ann);
    const sAnn2 = await connectAs(svc.wsUrl, svc, ann);
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const wall = await fence(svc, [
      { userId: ann, socket: sAnn2 },
      { userId: bob, socket: sBob },
    ]);
    const typing = record(sBob, "user:typing");
    const recording = record(sBob, "user:recording");
    const reads = record(sBob, "conversation:read");
    const messageReads = record(sBob, "message:read");

    const ownRead = nextEvent(sAnn2, "conversation:read", (r) => r.conversationId === conversationId);
    await ok(sAnn, "typing:start", { conversationId });
    await ok(sAnn, "recording:start", { conversationId });
    await ok(sAnn, "conversation:read", { conversationId });
    // Ann's other sockets still hear of her own read.
    expect((await ownRead).userId).toBe(ann);
    await ok(sAnn, "typing:stop", { conversationId });
    await wall.pass();
    expect(typing.filter((t) => t.conversationId === conversationId)).toEqual([]);
    expect(recording.filter((t) => t.conversationId === conversationId)).toEqual([]);
    expect(reads.filter((t) => t.conversationId === conversationId)).toEqual([]);
    expect(messageReads.filter((t) => t.conversationId === conversationId)).toEqual([]);

    const inGroup = nextEvent(sBob, "user:typing", (t) => t.conversationId === groupId && t.isActive);
    await ok(sAnn, "typing:start", { conversationId: groupId });
    expect((await inGroup).userId).toBe(ann);
    const read = nextEvent(sBob, "conversation:read", (r) => r.conversationId === groupId);
    await ok(sBob, "message:send", { conversationId: groupId, content: "hello group" });
    await ok(sAnn, "conversation:read", { conversationId: groupId });
    expect((await read).userId).toBe(ann);
  });
});

describe("presence through a block", () => {
  test("the blocker reads as offline to the blocked user on every route, and to nobody else", async () => {
    const { ann, bob, a, conversationId } = await blockedPair();
    const [cat] = await makeUsers(svc, "cat");
    const groupId = (await a.post("/api/conversations", { type: "group", participantIds: [bob, cat] })).body.id;
    const b = await svc.as(bob);
    const c = await svc.as(cat!);
    await connectAs(svc.wsUrl, svc, ann);
    await eventually(async () => (await c.get(`/api/users/${ann}/presence`)).body.status === "online");

    const single = await b.get(`/api/users/${ann}/presence`);
    expect(single.body).toMatchObject({ userId: ann, status: "offline" });
    const batch = await b.post("/api/presence/batch", { userIds: [ann, cat] });
    expect(batch.body.data.find((p: any) => p.userId === ann).status).toBe("offline");
    const seenInRooms: string[] = [];
    for (const id of [conversationId, groupId]) {
      const rows = (await b.get(`/api/conversations/${id}/presence`)).body.data;
      expect(rows.find((p: any) => p.userId === ann).status).toBe("offline");
      seenInRooms.push(rows.find((p: any) => p.userId === ann).lastSeen);
    }
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const snapshot = await ok(sBob, "presence:get", { conversationId: groupId });
    expect(snapshot.data.find((p) => p.userId === ann)!.status).toBe("offline");
    // Cat sees Ann online everywhere.
    expect((await c.get(`/api/conversations/${groupId}/presence`)).body.data.find((p: any) => p.userId === ann).status).toBe("online");
    // The lastSeen Bob reads does not move past the block.
    const blockedAt = (await a.get("/api/me/blocks")).body.data[0].createdAt;
    for (const lastSeen of [single.body.lastSeen, ...seenInRooms, snapshot.data.find((p) => p.userId === ann)!.lastSeen]) {
      expect(Date.parse(lastSeen!)).toBeLessThanOrEqual(Date.parse(blockedAt));
    }
  });

  test("user:online and user:offline of the blocker reach the room but not the blocked user", async () => {
    const { ann, bob, a } = await blockedPair();
    const [cat] = await makeUsers(svc, "cat");
    const groupId = (await a.post("/api/conversations", { type: "group", participantIds: [bob, cat] })).body.id;
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const sCat = await connectAs(svc.wsUrl, svc, cat!);
    const wall = await fence(svc, [
      { userId: bob, socket: sBob },
      { userId: cat!, socket: sCat },
    ]);
    const atBob = record(sBob, "user:online");
    const offlineAtBob = record(sBob, "user:offline");
    const online = nextEvent(sCat, "user:online", (e) => e.userId === ann && e.conversationId === groupId);
    const sAnn = await connectAs(svc.wsUrl, svc, ann);
    await online;
    const offline = nextEvent(sCat, "user:offline", (e) => e.userId === ann && e.conversationId === groupId);
    sAnn.close();
    await offline;
    await wall.pass();
    expect(atBob.filter((e) => e.userId === ann)).toEqual([]);
    expect(offlineAtBob.filter((e) => e.userId === ann)).toEqual([]);
  });
});
