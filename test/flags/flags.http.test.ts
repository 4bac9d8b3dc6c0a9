/**
 * Flags over REST: a participant reports a message once (again: the stored flag, 200), the host
 * hears `message.flagged` once, and reads the review queue newest first with its internal secret.
 */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messageFlags, webhookEvents } from "../../src/core/db/schema";
import { group, makeUsers } from "../helpers/realtime";
import { INTERNAL_SECRET, type ApiClient } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

/** Ann's group with Bob; Eve outside, Gus removed. */
async function team() {
  const [ann, bob, eve, gus] = await makeUsers(svc, "ann", "bob", "eve", "gus");
  const id = await group(svc, ann!, [bob!, gus!]);
  const a = await svc.as(ann!);
  expect((await a.delete(`/api/conversations/${id}/participants/${gus}`)).status).toBe(204);
  const message = (await a.post(`/api/conversations/${id}/messages`, { content: "something rude" })).body;
  return { ann: ann!, bob: bob!, eve: eve!, gus: gus!, id, message, a, b: await svc.as(bob!) };
}

const flagsOf = async (messageId: string) => svc.app.ctx.db.select().from(messageFlags).where(eq(messageFlags.messageId, messageId));
const flaggedEvents = async () => (await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, "message.flagged"))).map((r) => r.payload.data);
/** `secret` null: without the header. */
const queue = (query = "", secret: string | null = INTERNAL_SECRET) =>
  svc.request("GET", `/api/flags${query}`, { headers: secret === null ? {} : { "x-internal-secret": secret } });

describe("flagging", () => {
  test("201 with the flag, once; again 200 with the stored flag; message.flagged only the first time", async () => {
    const { bob, id, message, b } = await team();
    const res = await b.post(`/api/messages/${message.id}/flag`, { reason: "insulting" });
    expect(res.status).toBe(201);
    const flag = { messageId: message.id, conversationId: id, userId: bob, reason: "insulting", createdAt: expect.stringMatching(ISO) };
    expect(res.body).toEqual(flag);
    const again = await b.post(`/api/messages/${message.id}/flag`, { reason: "changed my mind" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    expect((await b.post(`/api/messages/${message.id}/flag`)).body).toEqual(res.body);

    expect((await flaggedEvents()).filter((d: any) => d.messageId === message.id)).toEqual([res.body]);
    await eventually(() => receiver.acceptedOf("message.flagged").some((d) => d.payload.data.messageId === message.id), 5000, "message.flagged delivered");
    expect(receiver.acceptedOf("message.flagged").filter((d) => d.payload.data.messageId === message.id).map((d) => d.payload.data)).toEqual([res.body]);
  });

  test("without a reason (no body at all, or an empty one) the reason is null; each participant flags once", async () => {
    const { ann, bob, id, message, a, b } = await team();
    const bare = await svc.request("POST", `/api/messages/${message.id}/flag`, { headers: { authorization: `Bearer ${b.token}` } });
    expect(bare.status).toBe(201);
    expect(bare.body).toMatchObject({ userId: bob, reason: null });
    // The sender may report their own message too (an account taken over, say).
    const own = await a.post(`/api/messages/${message.id}/flag`, {});
    expect(own.status).toBe(201);
    expect(own.body).toEqual({ messageId: message.id, conversationId: id, userId: ann, reason: null, createdAt: expect.stringMatching(ISO) });
    expect((await flagsOf(message.id)).length).toBe(2);
  });

  test("outsiders and removed participants 404; deleted users 401; a deleted message 409; nothing stored", async () => {
    const { eve, gus, message, a } = await team();
    for (const userId of [eve, gus]) expectError(await (await svc.as(userId)).post(`/api/messages/${message.id}/flag`, { reason: "x" }), 404, "NOT_FOUND");
    const [dan] = await makeUsers(svc, "dan");
    const d = await svc.as(dan!);
    expect((await a.post(`/api/conversations/${message.conversationId}/participants`, { userIds: [dan] })).status).toBe(200);
    expect((await svc.internal("DELETE", `/api/users/${dan}`)).status).toBe(204);
    expectError(await d.post(`/api/messages/${message.id}/flag`, {}), 401, "USER_NOT_FOUND");
    expect(await flagsOf(message.id)).toEqual([]);

    const doomed = (await a.post(`/api/conversations/${message.conversationId}/messages`, { content: "soon deleted" })).body;
    const flagged = (await a.post(`/api/messages/${doomed.id}/flag`, { reason: "before" })).body;
    expect((await a.delete(`/api/messages/${doomed.id}`)).status).toBe(204);
    // A flag made before the deletion stays, and is answered again.
    const again = await a.post(`/api/messages/${doomed.id}/flag`, {});
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: flagged });
    const [bob] = await makeUsers(svc, "late");
    expect((await a.post(`/api/conversations/${message.conversationId}/participants`, { userIds: [bob] })).status).toBe(200);
    expectError(await (await svc.as(bob!)).post(`/api/messages/${doomed.id}/flag`, {}), 409, "CONFLICT");
  });

  test("bad ids and reasons are 400 VALIDATION_ERROR and store nothing", async () => {
    const { message, b } = await team();
    expectError(await b.post("/api/messages/not-a-uuid/flag", {}), 400, "VALIDATION_ERROR");
    expectError(await b.post(`/api/messages/${crypto.randomUUID()}/flag`, {}), 404, "NOT_FOUND");
    const tooLong = await b.post(`/api/messages/${message.id}/flag`, { reason: "x".repeat(501) });
    expectError(tooLong, 400, "VALIDATION_ERROR");
    expect(JSON.stringify(tooLong.body.error.details)).toContain("/reason");
    expectError(await b.post(`/api/messages/${message.id}/flag`, { reason: 42 }), 400, "VALIDATION_ERROR");
    expectError(await b.post(`/api/messages/${message.id}/flag`, { reason: "nul \u0000 inside" }), 400, "VALIDATION_ERROR");
    expectError(await b.post(`/api/messages/${message.id}/flag`, "[1,2]"), 400, "VALIDATION_ERROR");
    expect(await flagsOf(message.id)).toEqual([]);
    expect((await b.post(`/api/messages/${message.id}/flag`, { reason: "x".repeat(500) })).status).toBe(201);
  });
});

describe("the review queue (GET /api/flags)", () => {
  test("only with the internal secret: none, a wrong one, or a user token is 401", async () => {
    const { b } = await team();
    expectError(await queue("", null), 401, "UNAUTHORIZED");
    expectError(await queue("", "wrong-secret"), 401, "UNAUTHORIZED");
    expectError(await b.get("/api/flags"), 401, "UNAUTHORIZED");
    expect((await queue()).status).toBe(200);
  });

  test("newest flag first, paged with limit and cursor", async () => {
    const { ann, message, a, b } = await team();
    const clients: ApiClient[] = [a, b];
    const made = [];
    for (let i = 0; i < 3; i++) {
      const m = (await a.post(`/api/conversations/${message.conversationId}/messages`, { content: `m${i}` })).body;
      for (const client of clients) made.push((await client.post(`/api/messages/${m.id}/flag`, { reason: `r${i}` })).body);
    }
    // The whole queue holds other tests' flags too: ours are its newest six, newest first.
    const expected = made.toReversed();
    const seen = [];
    let cursor: string | null = null;
    do {
      const page: any = (await queue(`?limit=4${cursor ? `&cursor=${cursor}` : ""}`)).body;
      expect(page.data.length).toBeLessThanOrEqual(4);
      seen.push(...page.data);
      cursor = page.nextCursor;
      expect(page.hasMore).toBe(cursor !== null);
    } while (cursor);
    expect(seen.slice(0, 6)).toEqual(expected);
    const times = seen.map((f) => f.createdAt);
    expect(times).toEqual(times.toSorted().toReversed());
    expect(new Set(seen.map((f) => `${f.messageId} ${f.userId}`)).size).toBe(seen.length);
    expect(seen.filter((f) => f.userId === ann).length).toBeGreaterThanOrEqual(3);

    expectError(await queue("?cursor=garbage"), 400, "VALIDATION_ERROR");
    expectError(await queue(`?cursor=${Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", "x", "y"])).toString("base64url")}`), 400, "VALIDATION_ERROR");
    expectError(await queue("?limit=0"), 400, "VALIDATION_ERROR");
    expectError(await queue("?limit=101"), 400, "VALIDATION_ERROR");
  });
});
