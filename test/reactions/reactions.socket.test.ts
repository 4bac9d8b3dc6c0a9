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
  const message = await ok(s.ann, "message:send", { conversationId, content: "react to me" });
  return { ann, bob, conversationId, s, wall, messageId: message.id as string };
}

describe("reaction:add and reaction:remove", () => {
  test("ack the change as REST does and the room hears reaction:added / reaction:removed; outsiders do not", async () => {
    const { bob, conversationId, s, wall, messageId } = await scene();
    const leaked = [record(s.eve, "reaction:added"), record(s.eve, "reaction:removed")];
    const added = nextEvent(s.ann, "reaction:added");
    const change = await ok(s.bob, "reaction:add", { messageId, emoji: "👍" });
    expect(change).toEqual({ messageId, conversationId, emoji: "👍", userId: bob, totalCount: 1 });
    expect(await added).toEqual(change);

    // Adding it again changes nothing and is not announced again.
    const repeats = record(s.ann, "reaction:added");
    expect(await ok(s.bob, "reaction:add", { messageId, emoji: "👍" })).toEqual(change);

    const removed = nextEvent(s.ann, "reaction:removed");
    const undone = await ok(s.bob, "reaction:remove", { messageId, emoji: "👍" });
    expect(undone).toEqual({ ...change, totalCount: 0 });
    expect(await removed).toEqual(undone);
    await wall.pass();
    expect(repeats).toEqual([]);
    expect(leaked.flat()).toEqual([]);
  });

  test("errors: invalid emoji, unknown message, outsider", async () => {
    const { s, messageId } = await scene();
    expect(await call(s.bob, "reaction:add", { messageId, emoji: "not an emoji" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await call(s.bob, "reaction:add", { messageId, emoji: "" })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(await call(s.bob, "reaction:add", { messageId: crypto.randomUUID(), emoji: "👍" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.eve, "reaction:add", { messageId, emoji: "👍" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(s.eve, "reaction:remove", { messageId, emoji: "👍" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });

  test("reactions made through REST reach sockets", async () => {
    const { ann, s, wall, messageId } = await scene();
    const leaked = record(s.eve, "reaction:added");
    const added = nextEvent(s.bob, "reaction:added");
    const rest = await svc.as(ann);
    const res = await rest.post(`/api/messages/${messageId}/reactions`, { emoji: ":party:" });
    expect(res.status).toBe(201);
    expect(await added).toEqual(res.body);
    const removed = nextEvent(s.bob, "reaction:removed");
    expect((await rest.delete(`/api/messages/${messageId}/reactions/${encodeURIComponent(":party:")}`)).status).toBe(200);
    expect(await removed).toMatchObject({ messageId, emoji: ":party:", totalCount: 0 });
    await wall.pass();
    expect(leaked).toEqual([]);
  });
});
