import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messages } from "../../src/core/db/schema";
import { AppError } from "../../src/core/errors";
import { writeSends } from "../../src/messages/service";
import { call, connectAs, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent } from "../helpers/sockets";

const svc = serviceForTests();
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function direct(a: string, b: string): Promise<string> {
  const res = await (await svc.as(a)).post("/api/conversations", { type: "direct", participantIds: [b] });
  if (res.status !== 201) throw new Error(`direct: ${res.status}`);
  return res.body.id;
}

/** Ann owns a group with Bob (admin) and Cat (member); Eve is outside. */
async function team() {
  const [ann, bob, cat, eve] = await makeUsers(svc, "ann", "bob", "cat", "eve");
  const id = await group(svc, ann!, [bob!, cat!], "team");
  expect((await (await svc.as(ann!)).patch(`/api/conversations/${id}/participants/${bob}`, { role: "admin" })).status).toBe(200);
  return { ann: ann!, bob: bob!, cat: cat!, eve: eve!, id };
}

const send = async (userId: string, conversationId: string, body: Record<string, unknown>) =>
  (await svc.as(userId)).post(`/api/conversations/${conversationId}/messages`, body);

describe("PATCH /api/conversations/:id", () => {
  test("an owner or admin changes a group's settings; the answer is the conversation as GET returns it", async () => {
    const { ann, bob, id } = await team();
    const res = await (await svc.as(ann)).patch(`/api/conversations/${id}`, { name: "core", metadata: { topic: "ops" }, slowModeSeconds: 30 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual((await (await svc.as(ann)).get(`/api/conversations/${id}`)).body);
    expect(res.body).toMatchObject({ id, name: "core", metadata: { topic: "ops" }, slowModeSeconds: 30 });

    // metadata replaces the stored object; fields not given stay as they were.
    const again = await (await svc.as(bob)).patch(`/api/conversations/${id}`, { metadata: { color: "red" } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ name: "core", metadata: { color: "red" }, slowModeSeconds: 30 });
    expect(Date.parse(again.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(res.body.updatedAt));

    const cleared = await (await svc.as(ann)).patch(`/api/conversations/${id}`, { name: null, slowModeSeconds: 0 });
    expect(cleared.body).toMatchObject({ name: null, metadata: { color: "red" }, slowModeSeconds: 0 });
  });

  test("a new conversation has slow mode off", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const res = await (await svc.as(ann!)).post("/api/conversations", { type: "group", participantIds: [bob] });
    expect(res.body.slowModeSeconds).toBe(0);
  });

  test("a member is refused (403), an outsider learns nothing (404), and nothing changes", async () => {
    const { ann, cat, eve, id } = await team();
    const member = await (await svc.as(cat)).patch(`/api/conversations/${id}`, { name: "mine" });
    expect(member.status).toBe(403);
    expect(member.body.error.code).toBe("FORBIDDEN");
    const outsider = await (await svc.as(eve)).patch(`/api/conversations/${id}`, { name: "mine" });
    expect(outsider.status).toBe(404);
    expect(outsider.body.error.code).toBe("NOT_FOUND");
    expect((await (await svc.as(ann)).patch(`/api/conversations/00000000-0000-4000-8000-000000000000`, { name: "x" })).status).toBe(404);
    expect((await (await svc.as(ann)).get(`/api/conversations/${id}`)).body.name).toBe("team");
  });

  test("bad bodies are 400 VALIDATION_ERROR and change nothing", async () => {
    const { ann, id } = await team();
    const owner = await svc.as(ann);
    for (const body of [{}, { slowModeSeconds: -1 }, { slowModeSeconds: 3601 }, { slowModeSeconds: 1.5 }, { name: "" }, { metadata: [] }, { name: "a\u0000b" }]) {
      const res = await owner.patch(`/api/conversations/${id}`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
    }
    expect((await owner.patch(`/api/conversations/not-a-uuid`, { name: "x" })).status).toBe(400);
    // A number sent as a string out of range: the refusal names the body, not a query parameter.
    const asString = await owner.patch(`/api/conversations/${id}`, { slowModeSeconds: "3601" });
    expect(asString.status).toBe(400);
    expect(asString.body.error.message).toStartWith("Invalid body");
    expect((await owner.get(`/api/conversations/${id}`)).body).toMatchObject({ name: "team", metadata: {}, slowModeSeconds: 0 });
  });

  test("either side of a direct conversation changes its metadata, and only that (400 naming the field)", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await direct(ann!, bob!);
    const res = await (await svc.as(bob!)).patch(`/api/conversations/${id}`, { metadata: { pinned: true } });
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({ pinned: true });
    for (const [body, paths] of [
      [{ name: "us" }, ["/name"]],
      [{ slowModeSeconds: 10 }, ["/slowModeSeconds"]],
      [{ metadata: {}, name: "us", slowModeSeconds: 10 }, ["/name", "/slowModeSeconds"]],
    ] as const) {
      const refused = await (await svc.as(ann!)).patch(`/api/conversations/${id}`, body);
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe("VALIDATION_ERROR");
      expect(refused.body.error.details.map((d: any) => d.path)).toEqual([...paths]);
    }
    expect((await (await svc.as(ann!)).get(`/api/conversations/${id}`)).body).toMatchObject({ name: null, metadata: { pinned: true }, slowModeSeconds: 0 });
  });

  test("the room hears conversation:updated, the same payload for everyone", async () => {
    const { ann, bob, cat, id } = await team();
    const sockets = [await connectAs(svc.url, svc, ann), await connectAs(svc.wsUrl, svc, bob), await connectAs(svc.wsUrl, svc, cat)];
    const heard = sockets.map((s) => nextEvent(s, "conversation:updated", (e: any) => e.conversationId === id));
    const res = await (await svc.as(bob)).patch(`/api/conversations/${id}`, { metadata: { a: 1 }, slowModeSeconds: 60 });
    expect(res.status).toBe(200);
    for (const event of await Promise.all(heard)) {
      expect(event).toEqual({ conversationId: id, name: "team", metadata: { a: 1 }, slowModeSeconds: 60, updatedBy: bob, updatedAt: res.body.updatedAt });
    }
    expect(res.body.updatedAt).toMatch(ISO);
    for (const s of sockets) s.disconnect();
  });
});

describe("slow mode", () => {
  test("a member's second send inside the window is 429 with retryAfter, stores nothing and uses no seq", async () => {
    const { ann, cat, id } = await team();
    expect((await (await svc.as(ann)).patch(`/api/conversations/${id}`, { slowModeSeconds: 2 })).status).toBe(200);
    const first = await send(cat, id, { content: "one" });
    expect(first.status).toBe(201);
    const refused = await send(cat, id, { content: "two" });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("RATE_LIMITED");
    const retryAfter = refused.body.error.details.retryAfter;
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 2).toBe(true);
    expect(refused.headers.get("retry-after")).toBe(String(retryAfter));
    const stored = await svc.app.ctx.db.select().from(messages).where(eq(messages.conversationId, id));
    expect(stored.map((m) => m.content)).toEqual(["one"]);

    await Bun.sleep(retryAfter * 1000);
    const next = await send(cat, id, { content: "three" });
    expect(next.status).toBe(201);
    expect(next.body.seq).toBe(first.body.seq + 1);
  });

  test("owners and admins are exempt", async () => {
    const { ann, bob, id } = await team();
    expect((await (await svc.as(ann)).patch(`/api/conversations/${id}`, { slowModeSeconds: 3600 })).status).toBe(200);
    for (const userId of [ann, bob, ann, bob]) expect((await send(userId, id, { content: "free" })).status).toBe(201);
  });

  test("a retry of a stored clientMessageId inside the window answers 200 with the stored message", async () => {
    const { ann, cat, id } = await team();
    expect((await (await svc.as(ann)).patch(`/api/conversations/${id}`, { slowModeSeconds: 3600 })).status).toBe(200);
    const first = await send(cat, id, { content: "once", clientMessageId: "c-1" });
    expect(first.status).toBe(201);
    const retry = await send(cat, id, { content: "once", clientMessageId: "c-1" });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect((await send(cat, id, { content: "new", clientMessageId: "c-2" })).status).toBe(429);
  });

  test("over a socket the refusal is an ack error with retryAfter", async () => {
    const { ann, cat, id } = await team();
    expect((await (await svc.as(ann)).patch(`/api/conversations/${id}`, { slowModeSeconds: 3600 })).status).toBe(200);
    const socket = await connectAs(svc.wsUrl, svc, cat);
    const first = await call(socket, "message:send", { conversationId: id, content: "one" });
    expect(first.ok).toBe(true);
    const second = await call(socket, "message:send", { conversationId: id, content: "two" });
    expect(second).toEqual({ ok: false, error: { code: "RATE_LIMITED", message: expect.any(String), details: { retryAfter: expect.any(Number) } } });
    if (!second.ok) expect((second.error.details as any).retryAfter).toBeGreaterThan(3500);
    const stored = await svc.app.ctx.db.select().from(messages).where(eq(messages.conversationId, id));
    expect(stored.map((m) => m.seq)).toEqual([1]);
    socket.disconnect();
  });

  test("in one batch a member's second send is refused: the first counts", async () => {
    const { ann, cat, id } = await team();
    expect((await (await svc.as(ann)).patch(`/api/conversations/${id}`, { slowModeSeconds: 10 })).status).toBe(200);
    const actor = (userId: string) => ({ userId, tokenExpiresAt: null, issuedAt: null });
    const results = await writeSends(svc.app.ctx, [
      // A send another rule refuses does not count.
      { actor: actor(cat), conversationId: id, input: { content: "bad", replyTo: "00000000-0000-4000-8000-000000000000" } },
      { actor: actor(cat), conversationId: id, input: { content: "one" } },
      { actor: actor(ann), conversationId: id, input: { content: "owner" } },
      { actor: actor(cat), conversationId: id, input: { content: "two" } },
    ]);
    expect(results.map((r) => (r instanceof AppError ? r.code : r.message.seq))).toEqual(["VALIDATION_ERROR", 1, 2, "RATE_LIMITED"]);
    expect((results[3] as AppError).details).toEqual({ retryAfter: 10 });
    const stored = await svc.app.ctx.db.select().from(messages).where(eq(messages.conversationId, id));
    expect(stored.map((m) => m.content).sort()).toEqual(["one", "owner"]);
  });

  test("turning slow mode off lets a member send again at once", async () => {
    const { ann, cat, id } = await team();
    const owner = await svc.as(ann);
    expect((await owner.patch(`/api/conversations/${id}`, { slowModeSeconds: 3600 })).status).toBe(200);
    expect((await send(cat, id, { content: "one" })).status).toBe(201);
    expect((await send(cat, id, { content: "two" })).status).toBe(429);
    expect((await owner.patch(`/api/conversations/${id}`, { slowModeSeconds: 0 })).status).toBe(200);
    expect((await send(cat, id, { content: "three" })).status).toBe(201);
  });
});
