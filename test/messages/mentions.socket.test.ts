import { describe, expect, test } from "bun:test";
import { call, connectAs, fence, groupWithOutsider, ok } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

/** Ann and Bob in a group with a socket each, Bob with a second one; Eve outside with hers. */
async function scene() {
  const { ann, bob, eve, conversationId, sockets } = await groupWithOutsider(svc);
  const bobAgain = await connectAs(svc.wsUrl, svc, bob);
  const wall = await fence(svc, [
    { userId: ann, socket: sockets.ann },
    { userId: bob, socket: sockets.bob },
    { userId: bob, socket: bobAgain },
    { userId: eve, socket: sockets.eve },
  ]);
  return { ann, bob, eve, conversationId, s: { ...sockets, bobAgain }, wall };
}

describe("mentions over the socket", () => {
  test("message:send carries mentions; a non-participant is VALIDATION_ERROR with details.userIds and stores nothing", async () => {
    const { bob, eve, conversationId, s } = await scene();
    const sent = await ok(s.ann, "message:send", { conversationId, content: "@bob", mentions: [bob, bob] });
    expect(sent.mentions).toEqual([bob]);
    const refused = await call(s.ann, "message:send", { conversationId, content: "@eve", mentions: [eve, "ghost"] });
    expect(refused).toEqual({ ok: false, error: { code: "VALIDATION_ERROR", message: expect.any(String), details: { userIds: [eve, "ghost"] } } });
    const tooMany = await call(s.ann, "message:send", { conversationId, content: "x", mentions: Array.from({ length: 51 }, () => bob) });
    expect(tooMany).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect((await ok(s.ann, "message:send", { conversationId, content: "next" })).seq).toBe(2);
  });

  test("message:edit replaces mentions and message:updated carries them to the room only", async () => {
    const { ann, bob, eve, conversationId, s, wall } = await scene();
    const leaked = record(s.eve, "message:updated");
    const sent = await ok(s.ann, "message:send", { conversationId, content: "hi" });
    const update = nextEvent(s.bob, "message:updated");
    const edited = await ok(s.ann, "message:edit", { messageId: sent.id, content: "hi @bob", mentions: [bob, ann] });
    expect(edited.mentions).toEqual([bob, ann]);
    expect(await update).toEqual({
      messageId: sent.id,
      conversationId,
      content: "hi @bob",
      mentions: [bob, ann],
      isEdited: true,
      updatedAt: edited.updatedAt,
      editedAt: edited.editedAt,
    });
    const refused = await call(s.ann, "message:edit", { messageId: sent.id, content: "hi @eve", mentions: [eve] });
    expect(refused).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR", details: { userIds: [eve] } } });
    const bobs = await svc.as(bob);
    expect((await bobs.get(`/api/conversations/${conversationId}/unread-count`)).body.unreadMentionCount).toBe(1);
    await wall.pass();
    expect(leaked).toEqual([]);
  });
});

describe("conversation:unread", () => {
  test("acks the new marker; the caller's own sockets hear it, nobody else; others' view of the reading stays", async () => {
    const { ann, bob, conversationId, s, wall } = await scene();
    const m = [];
    for (const content of ["one", "two", "three"]) m.push(await ok(s.ann, "message:send", { conversationId, content, mentions: [bob] }));
    const firstRead = nextEvent(s.ann, "conversation:read");
    await ok(s.bob, "conversation:read", { conversationId });
    expect((await firstRead).count).toBe(3);
    const heardByAnn = record(s.ann, "conversation:unread");
    const heardByEve = record(s.eve, "conversation:unread");
    const readsByAnn = record(s.ann, "conversation:read");
    const onOtherDevice = nextEvent(s.bobAgain, "conversation:unread");
    const onSameDevice = nextEvent(s.bob, "conversation:unread");

    const answer = await ok(s.bob, "conversation:unread", { conversationId, messageId: m[1]!.id });
    expect(answer).toEqual({ conversationId, userId: bob, lastReadSeq: 1, unreadCount: 2 });
    expect(await onOtherDevice).toEqual(answer);
    expect(await onSameDevice).toEqual(answer);
    const bobs = await svc.as(bob);
    expect((await bobs.get(`/api/conversations/${conversationId}/unread-count`)).body).toEqual({ conversationId, unreadCount: 2, unreadMentionCount: 2, lastReadSeq: 1 });
    expect(await ok(s.bob, "unread:get")).toEqual((await bobs.get("/api/me/unread")).body);

    const anns = await svc.as(ann);
    const bobSeenByAnn = (await anns.get(`/api/conversations/${conversationId}`)).body.participants.find((p: { userId: string }) => p.userId === bob);
    expect(bobSeenByAnn.lastReadSeq).toBe(3);
    expect((await anns.get(`/api/messages/${m[2]!.id}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual([bob]);

    // Reading again moves only bob's own marker: his sockets learn it, the room hears nothing.
    const readAgain = nextEvent(s.bobAgain, "conversation:read");
    expect(await ok(s.bob, "conversation:read", { conversationId })).toMatchObject({ count: 2 });
    expect((await readAgain).count).toBe(2);
    expect((await bobs.get(`/api/conversations/${conversationId}/unread-count`)).body).toEqual({ conversationId, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 3 });
    await wall.pass();
    expect(heardByAnn).toEqual([]);
    expect(heardByEve).toEqual([]);
    expect(readsByAnn).toEqual([]);
  });

  test("marking unread through REST reaches the caller's sockets too", async () => {
    const { bob, conversationId, s } = await scene();
    const sent = await ok(s.ann, "message:send", { conversationId, content: "one" });
    const heard = nextEvent(s.bobAgain, "conversation:unread");
    const res = await (await svc.as(bob)).put(`/api/conversations/${conversationId}/unread`, { messageId: sent.id });
    expect(res.status).toBe(200);
    expect(await heard).toEqual(res.body);
  });

  test("errors: outsiders and unknown messages are NOT_FOUND, malformed payloads VALIDATION_ERROR", async () => {
    const { conversationId, s } = await scene();
    const sent = await ok(s.ann, "message:send", { conversationId, content: "one" });
    expect(await call(s.eve, "conversation:unread", { conversationId, messageId: sent.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.bob, "conversation:unread", { conversationId, messageId: crypto.randomUUID() })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.bob, "conversation:unread", { conversationId, messageId: "42" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await call(s.bob, "conversation:unread", { conversationId } as never)).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });
});
