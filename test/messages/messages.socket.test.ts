import { describe, expect, test } from "bun:test";
import { call, connectAs, fencedGroupWithOutsider, group, ok } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

const scene = () => fencedGroupWithOutsider(svc);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("message:send", () => {
  test("acks the Message and fans message:new out to the room, never to outsiders", async () => {
    const { ann, conversationId, sockets, wall } = await scene();
    const leaked = record(sockets.eve, "message:new");
    const atBob = nextEvent(sockets.bob, "message:new", (m: any) => m.conversationId === conversationId);
    const atAnn = nextEvent(sockets.ann, "message:new", (m: any) => m.conversationId === conversationId);
    const message = await ok(sockets.ann, "message:send", {
      conversationId,
      content: "hello",
      attachments: [{ url: "https://cdn.example.com/a.png", mimeType: "image/png" }],
      metadata: { k: 1 },
    });
    expect(message).toMatchObject({ conversationId, seq: 1, senderId: ann, content: "hello", isEdited: false, isDeleted: false, reactions: [], metadata: { k: 1 } });
    expect(message.createdAt).toMatch(ISO);
    expect(await atBob).toEqual(message);
    expect(await atAnn).toEqual(message);
    await wall.pass();
    expect(leaked.filter((m) => m.conversationId === conversationId)).toEqual([]);
  });

  test("a repeated clientMessageId returns the stored message and emits nothing new", async () => {
    const { conversationId, sockets, wall } = await scene();
    const seen = record(sockets.bob, "message:new");
    const first = await ok(sockets.ann, "message:send", { conversationId, content: "once", clientMessageId: "c-1" });
    const again = await ok(sockets.ann, "message:send", { conversationId, content: "once", clientMessageId: "c-1" });
    expect(again.id).toBe(first.id);
    await wall.pass();
    expect(seen.filter((m) => m.conversationId === conversationId).map((m) => m.id)).toEqual([first.id]);
  });

  test("errors: invalid payload, empty content, unknown or foreign conversation, bad replyTo", async () => {
    const { ann, conversationId, sockets } = await scene();
    expect(await call(sockets.ann, "message:send", { conversationId, content: "   " })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await call(sockets.ann, "message:send", { conversationId, content: "x", attachments: [{ url: "ftp://x" }] })).toMatchObject({
      ok: false,
      error: { code: "VALIDATION_ERROR" },
    });
    expect(await call(sockets.ann, "message:send", { conversationId: crypto.randomUUID(), content: "x" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.eve, "message:send", { conversationId, content: "x" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    // The socket answers what REST answers for the same input.
    const badReply = { content: "x", replyTo: crypto.randomUUID() };
    const viaRest = await (await svc.as(ann)).post(`/api/conversations/${conversationId}/messages`, badReply);
    expect(viaRest.status).toBeGreaterThanOrEqual(400);
    expect(await call(sockets.ann, "message:send", { conversationId, ...badReply })).toEqual({ ok: false, error: viaRest.body.error });
    const error = nextEvent(sockets.eve, "error");
    sockets.eve.emit("message:send", { conversationId, content: "x" });
    expect(await error).toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("message:edit and message:delete", () => {
  test("edit acks the Message and the room gets message:updated", async () => {
    const { conversationId, sockets, wall } = await scene();
    const leaked = record(sockets.eve, "message:updated");
    const sent = await ok(sockets.ann, "message:send", { conversationId, content: "draft" });
    const update = nextEvent(sockets.bob, "message:updated");
    const edited = await ok(sockets.ann, "message:edit", { messageId: sent.id, content: "final" });
    expect(edited).toMatchObject({ id: sent.id, content: "final", isEdited: true });
    expect(await update).toEqual({ messageId: sent.id, conversationId, content: "final", mentions: [], isEdited: true, updatedAt: edited.updatedAt, editedAt: edited.editedAt });
    await wall.pass();
    expect(leaked).toEqual([]);
  });

  test("only the sender edits; outsiders get NOT_FOUND; a deleted message is a CONFLICT", async () => {
    const { conversationId, sockets } = await scene();
    const sent = await ok(sockets.ann, "message:send", { conversationId, content: "mine" });
    expect(await call(sockets.bob, "message:edit", { messageId: sent.id, content: "theirs" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await call(sockets.eve, "message:edit", { messageId: sent.id, content: "theirs" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.eve, "message:delete", { messageId: sent.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.bob, "message:delete", { messageId: sent.id })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    await ok(sockets.ann, "message:delete", { messageId: sent.id });
    expect(await call(sockets.ann, "message:edit", { messageId: sent.id, content: "late" })).toMatchObject({ ok: false, error: { code: "CONFLICT" } });
  });

  test("delete acks { messageId, conversationId, deletedAt } and the room gets message:deleted", async () => {
    const { conversationId, sockets, wall } = await scene();
    const leaked = record(sockets.eve, "message:deleted");
    const sent = await ok(sockets.bob, "message:send", { conversationId, content: "oops" });
    const gone = nextEvent(sockets.ann, "message:deleted");
    const deleted = await ok(sockets.bob, "message:delete", { messageId: sent.id });
    expect(deleted).toEqual({ messageId: sent.id, conversationId, deletedAt: expect.stringMatching(ISO) });
    expect(await gone).toEqual(deleted);
    await wall.pass();
    expect(leaked).toEqual([]);
  });
});

describe("changes made through REST reach sockets", () => {
  test("POST, PATCH and DELETE of a message emit message:new, message:updated, message:deleted", async () => {
    const { ann, conversationId, sockets, wall } = await scene();
    const leaked = [...(["message:new", "message:updated", "message:deleted"] as const).flatMap((e) => record(sockets.eve, e))];
    const rest = await svc.as(ann);
    const created = nextEvent(sockets.bob, "message:new", (m: any) => m.conversationId === conversationId);
    const sent = await rest.post(`/api/conversations/${conversationId}/messages`, { content: "via rest" });
    expect(sent.status).toBe(201);
    expect(await created).toEqual(sent.body);

    const updated = nextEvent(sockets.bob, "message:updated");
    expect((await rest.patch(`/api/messages/${sent.body.id}`, { content: "edited via rest" })).status).toBe(200);
    expect(await updated).toMatchObject({ messageId: sent.body.id, content: "edited via rest", isEdited: true });

    const deleted = nextEvent(sockets.bob, "message:deleted");
    expect((await rest.delete(`/api/messages/${sent.body.id}`)).status).toBe(204);
    expect(await deleted).toMatchObject({ messageId: sent.body.id, conversationId });
    await wall.pass();
    expect(leaked.filter((e: any) => e.conversationId === conversationId)).toEqual([]);
  });
});

describe("messages:sync", () => {
  test("after a reconnect, returns the messages missed, by seq, from lastMessageId on", async () => {
    const { ann, bob, conversationId, sockets } = await scene();
    const seen = await ok(sockets.bob, "message:send", { conversationId, content: "seen" });
    sockets.bob.close();
    const rest = await svc.as(ann);
    const missed = [];
    for (const content of ["m1", "m2", "m3"]) missed.push((await rest.post(`/api/conversations/${conversationId}/messages`, { content })).body);

    const back = await connectAs(svc.wsUrl, svc, bob);
    const sync = await ok(back, "messages:sync", { conversationId, lastMessageId: seen.id });
    expect(sync.hasMore).toBe(false);
    expect(sync.messages.map((m: any) => m.content)).toEqual(["m1", "m2", "m3"]);
    expect(sync.messages.map((m: any) => m.seq)).toEqual([seen.seq + 1, seen.seq + 2, seen.seq + 3]);
    expect(sync.messages[0]).toEqual(missed[0]);

    const all = await ok(back, "messages:sync", { conversationId });
    expect(all.messages.map((m: any) => m.content)).toEqual(["seen", "m1", "m2", "m3"]);
    expect((await ok(back, "messages:sync", { conversationId, lastMessageId: null })).messages).toHaveLength(4);
    expect((await ok(back, "messages:sync", { conversationId, lastMessageId: missed[2].id })).messages).toEqual([]);
  });

  test("pages by 100 with hasMore", async () => {
    const { ann, conversationId, sockets } = await scene();
    const rest = await svc.as(ann);
    for (let i = 1; i <= 102; i++) await rest.post(`/api/conversations/${conversationId}/messages`, { content: `n${i}` });
    const first = await ok(sockets.bob, "messages:sync", { conversationId });
    expect(first.messages).toHaveLength(100);
    expect(first.hasMore).toBe(true);
    const rest2 = await ok(sockets.bob, "messages:sync", { conversationId, lastMessageId: first.messages[99]!.id });
    expect(rest2.messages.map((m: any) => m.content)).toEqual(["n101", "n102"]);
    expect(rest2.hasMore).toBe(false);
  });

  test("an outsider, or a lastMessageId of another conversation, is NOT_FOUND", async () => {
    const { ann, conversationId, sockets } = await scene();
    const other = await group(svc, ann, [ann]);
    const elsewhere = await ok(sockets.ann, "message:send", { conversationId: other, content: "elsewhere" });
    expect(await call(sockets.eve, "messages:sync", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.ann, "messages:sync", { conversationId, lastMessageId: elsewhere.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.ann, "messages:sync", { conversationId, lastMessageId: "x" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });
});
