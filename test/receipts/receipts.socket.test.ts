import { describe, expect, test } from "bun:test";
import { call, fence, groupWithOutsider, ok } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

async function scene() {
  const { ann, bob, eve, conversationId, sockets: s } = await groupWithOutsider(svc);
  const wall = await fence(svc, [
    { userId: ann, socket: s.ann },
    { userId: eve, socket: s.eve },
  ]);
  const messages = [];
  for (const content of ["one", "two", "three"]) messages.push(await ok(s.ann, "message:send", { conversationId, content }));
  return { ann, bob, conversationId, s, wall, messages };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("message:read", () => {
  test("acks { messageId, conversationId, userId, readAt } and the room hears message:read once", async () => {
    const { bob, conversationId, s, wall, messages } = await scene();
    const leaked = record(s.eve, "message:read");
    const heard = record(s.ann, "message:read");
    const read = await ok(s.bob, "message:read", { messageId: messages[1]!.id });
    expect(read).toEqual({ messageId: messages[1]!.id, conversationId, userId: bob, readAt: expect.stringMatching(ISO) });
    // Reading an earlier message again does not move the watermark back, nor announce anything.
    expect((await ok(s.bob, "message:read", { messageId: messages[0]!.id })).messageId).toBe(messages[0]!.id);
    await wall.pass();
    expect(heard).toEqual([read]);
    expect(leaked).toEqual([]);
    const unread = await (await svc.as(bob)).get(`/api/conversations/${conversationId}/unread-count`);
    expect(unread.body).toMatchObject({ unreadCount: 1, lastReadSeq: 2 });
  });

  test("errors: unknown message, outsider, malformed id", async () => {
    const { s, messages } = await scene();
    expect(await call(s.bob, "message:read", { messageId: crypto.randomUUID() })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.eve, "message:read", { messageId: messages[0]!.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.bob, "message:read", { messageId: "42" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });
});

describe("conversation:read", () => {
  test("acks { conversationId, userId, upToMessageId, count, readAt } and the room hears it", async () => {
    const { bob, conversationId, s, wall, messages } = await scene();
    const leaked = record(s.eve, "conversation:read");
    const heard = nextEvent(s.ann, "conversation:read");
    const first = await ok(s.bob, "conversation:read", { conversationId, upToMessageId: messages[0]!.id });
    expect(first).toEqual({ conversationId, userId: bob, upToMessageId: messages[0]!.id, count: 1, readAt: expect.stringMatching(ISO) });
    expect(await heard).toEqual(first);
    const rest = await ok(s.bob, "conversation:read", { conversationId });
    expect(rest).toMatchObject({ upToMessageId: messages[2]!.id, count: 2 });
    await wall.pass();
    expect(leaked).toEqual([]);
  });

  test("reads marked through REST reach sockets; outsiders get NOT_FOUND", async () => {
    const { bob, conversationId, s, wall, messages } = await scene();
    const heard = nextEvent(s.ann, "message:read");
    const res = await (await svc.as(bob)).put(`/api/messages/${messages[2]!.id}/read`);
    expect(res.status).toBe(200);
    expect(await heard).toEqual(res.body);
    expect(await call(s.eve, "conversation:read", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    await wall.pass();
  });
});
