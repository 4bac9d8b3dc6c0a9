/**
 * Threads over sockets: `message:send` with `parentId`, `thread:updated` to the room after a reply
 * is stored or deleted (never after an edit, never to outsiders), `thread:replies` pages,
 * `messages:sync` with the replies, and the client SDK on top of them.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { type ChatClient, createChatClient } from "../../src/client";
import { call, fencedGroupWithOutsider, group, ok } from "../helpers/realtime";
import { mintToken, serviceForTests } from "../helpers/service";
import { eventually, nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

const scene = () => fencedGroupWithOutsider(svc);

const ofConversation = (conversationId: string) => (e: { conversationId: string }) => e.conversationId === conversationId;

describe("message:send with parentId", () => {
  test("acks the reply; the room gets message:new, then thread:updated with the parent's counters; outsiders nothing", async () => {
    const { conversationId, sockets, wall } = await scene();
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    const leaked = record(sockets.eve, "thread:updated");
    const order: string[] = [];
    sockets.bob.on("message:new", (m) => m.parentId === parent.id && order.push(`new ${m.seq}`));
    sockets.bob.on("thread:updated", (t) => t.conversationId === conversationId && order.push(`thread ${t.replyCount}`));
    const atBob = nextEvent(sockets.bob, "thread:updated", ofConversation(conversationId));
    const atAnn = nextEvent(sockets.ann, "thread:updated", ofConversation(conversationId));

    const reply = await ok(sockets.bob, "message:send", { conversationId, content: "answer", parentId: parent.id });
    expect(reply).toMatchObject({ conversationId, seq: parent.seq + 1, parentId: parent.id, replyCount: 0, lastReplyAt: null });
    const expected = { conversationId, parentId: parent.id, replyCount: 1, lastReplyAt: reply.createdAt };
    expect(await atBob).toEqual(expected);
    expect(await atAnn).toEqual(expected);
    expect(order).toEqual([`new ${reply.seq}`, "thread 1"]);
    await wall.pass();
    expect(leaked).toEqual([]);
  });

  test("answers what REST answers: a reply to a reply or to another conversation's message is VALIDATION_ERROR, to a deleted one CONFLICT; no event", async () => {
    const { ann, bob, conversationId, sockets, wall } = await scene();
    const otherConversation = await group(svc, ann, [bob], "other");
    const elsewhere = await ok(sockets.ann, "message:send", { conversationId: otherConversation, content: "elsewhere" });
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    const reply = await ok(sockets.bob, "message:send", { conversationId, content: "answer", parentId: parent.id });
    const seen = record(sockets.bob, "thread:updated");

    expect(await call(sockets.ann, "message:send", { conversationId, content: "x", parentId: reply.id })).toMatchObject({
      ok: false,
      error: { code: "VALIDATION_ERROR", details: [{ path: "/parentId" }] },
    });
    expect(await call(sockets.ann, "message:send", { conversationId, content: "x", parentId: elsewhere.id })).toMatchObject({
      ok: false,
      error: { code: "VALIDATION_ERROR", details: [{ path: "/parentId" }] },
    });
    expect(await call(sockets.ann, "message:send", { conversationId, content: "x", parentId: "nope" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await ok(sockets.ann, "message:delete", { messageId: parent.id })).toMatchObject({ messageId: parent.id });
    expect(await call(sockets.bob, "message:send", { conversationId, content: "late", parentId: parent.id })).toMatchObject({ ok: false, error: { code: "CONFLICT" } });
    await wall.pass();
    expect(seen).toEqual([]);
    const next = await ok(sockets.ann, "message:send", { conversationId, content: "next" });
    expect(next.seq).toBe(reply.seq + 1);
  });

  test("deleting a reply lowers the count and sends thread:updated; editing sends none and changes nothing", async () => {
    const { conversationId, sockets, wall } = await scene();
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    const first = await ok(sockets.bob, "message:send", { conversationId, content: "one", parentId: parent.id });
    const second = await ok(sockets.ann, "message:send", { conversationId, content: "two", parentId: parent.id });
    await wall.pass();
    const seen = record(sockets.bob, "thread:updated");

    const edited = await ok(sockets.ann, "message:edit", { messageId: parent.id, content: "question, edited" });
    expect(edited).toMatchObject({ replyCount: 2, lastReplyAt: second.createdAt });
    await ok(sockets.ann, "message:edit", { messageId: second.id, content: "two, edited" });
    await wall.pass();
    expect(seen).toEqual([]);

    const lowered = nextEvent(sockets.bob, "thread:updated", ofConversation(conversationId));
    await ok(sockets.ann, "message:delete", { messageId: second.id });
    expect(await lowered).toEqual({ conversationId, parentId: parent.id, replyCount: 1, lastReplyAt: first.createdAt });
    const emptied = nextEvent(sockets.ann, "thread:updated", ofConversation(conversationId));
    await ok(sockets.bob, "message:delete", { messageId: first.id });
    expect(await emptied).toEqual({ conversationId, parentId: parent.id, replyCount: 0, lastReplyAt: null });
    // Deleting a deleted reply again: nothing to lower, nothing sent.
    await ok(sockets.bob, "message:delete", { messageId: first.id });
    await wall.pass();
    expect(seen.map((t) => t.replyCount)).toEqual([1, 0]);
  });
});

describe("reading threads over sockets", () => {
  test("messages:sync returns replies in seq order with top-level messages", async () => {
    const { conversationId, sockets } = await scene();
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    const reply = await ok(sockets.bob, "message:send", { conversationId, content: "answer", parentId: parent.id });
    const after = await ok(sockets.ann, "message:send", { conversationId, content: "after" });
    const sync = await ok(sockets.bob, "messages:sync", { conversationId });
    expect(sync.messages.map((m) => [m.seq, m.content, m.parentId])).toEqual([
      [parent.seq, "question", null],
      [reply.seq, "answer", parent.id],
      [after.seq, "after", null],
    ]);
    expect(sync.messages[0]).toMatchObject({ replyCount: 1, lastReplyAt: reply.createdAt });
    expect((await ok(sockets.bob, "messages:sync", { conversationId, lastMessageId: parent.id })).messages.map((m) => m.id)).toEqual([reply.id, after.id]);
  });

  test("thread:replies pages a thread as REST does; outsiders get NOT_FOUND", async () => {
    const { ann, conversationId, sockets } = await scene();
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await ok(sockets.bob, "message:send", { conversationId, content: `r${i}`, parentId: parent.id }));
    const newest = await ok(sockets.ann, "thread:replies", { parentId: parent.id, limit: 2 });
    expect(newest).toEqual({ data: replies.slice(3), hasMore: true, nextCursor: replies[3]!.id });
    const rest = await svc.as(ann);
    expect((await rest.get(`/api/messages/${parent.id}/replies?limit=2&before=${newest.nextCursor}`)).body).toEqual(
      await ok(sockets.ann, "thread:replies", { parentId: parent.id, limit: 2, before: newest.nextCursor! }),
    );
    expect(await ok(sockets.ann, "thread:replies", { parentId: parent.id, after: replies[1]!.id })).toEqual({ data: replies.slice(2), hasMore: false, nextCursor: null });
    expect(await call(sockets.eve, "thread:replies", { parentId: parent.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.ann, "thread:replies", { parentId: parent.id, limit: 0 })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await call(sockets.ann, "thread:replies", { parentId: parent.id, before: replies[0]!.id, after: replies[1]!.id })).toMatchObject({
      ok: false,
      error: { code: "VALIDATION_ERROR" },
    });
  });
});

describe("client SDK", () => {
  const clients: ChatClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  const clientOf = (userId: string) => {
    const client = createChatClient({ url: svc.wsUrl, token: () => mintToken(userId), transports: ["websocket"] });
    clients.push(client);
    return client;
  };

  test("sends a reply with parentId, keeps the parent's counters from thread:updated, pages a thread", async () => {
    const { ann, bob, conversationId, sockets } = await scene();
    const parent = await ok(sockets.ann, "message:send", { conversationId, content: "question" });
    for (let i = 0; i < 3; i++) await ok(sockets.ann, "message:send", { conversationId, content: `early ${i}`, parentId: parent.id });
    const annClient = clientOf(ann);
    const bobClient = clientOf(bob);
    // Bob starts from the newest message only: the thread's earlier replies are not held yet.
    const latest = await ok(sockets.ann, "message:send", { conversationId, content: "latest" });
    const atBob = bobClient.conversation(conversationId, { messages: [latest] });
    const atAnn = annClient.conversation(conversationId);
    await eventually(() => annClient.status === "connected" && bobClient.status === "connected" && atAnn.messages.length === 5, 10_000, "clients synced");
    expect(atAnn.topLevel.map((m) => m.content)).toEqual(["question", "latest"]);
    expect(atAnn.thread(parent.id).map((m) => m.content)).toEqual(["early 0", "early 1", "early 2"]);

    const reply = await atBob.send({ content: "from the SDK", parentId: parent.id });
    expect(reply).toMatchObject({ parentId: parent.id, senderId: bob, content: "from the SDK" });
    await eventually(() => atAnn.messages.find((m) => m.id === parent.id)?.replyCount === 4, 5000, "thread:updated applied");
    expect(atAnn.messages.find((m) => m.id === parent.id)?.lastReplyAt).toBe(reply.createdAt);

    const page = await atBob.replies(parent.id, { limit: 2 });
    expect(page.data.map((m) => m.content)).toEqual(["early 2", "from the SDK"]);
    expect(page.hasMore).toBe(true);
    const older = await atBob.replies(parent.id, { before: page.nextCursor! });
    expect(older).toMatchObject({ hasMore: false, nextCursor: null });
    expect(atBob.thread(parent.id).map((m) => m.content)).toEqual(["early 0", "early 1", "early 2", "from the SDK"]);

    // A reply to a reply is refused for good: failed, not retried.
    await expect(atBob.send({ content: "nested", parentId: reply.id })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    expect(atBob.pending).toMatchObject([{ status: "failed", parentId: reply.id }]);
  });
});
