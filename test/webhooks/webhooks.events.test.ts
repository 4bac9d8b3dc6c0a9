import { beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { join } from "node:path";
import { webhookEvents } from "../../src/core/db/schema";
import { MODERATION_HOOK_TYPES } from "../../src/messages/moderation-hook";
import { WEBHOOK_EVENT_TYPES } from "../../src/webhooks/outbox";
import { connectSocket, eventually } from "../helpers/sockets";
import { type Delivery, RAW_SECRET, serviceWithReceiver, WHSEC_SECRET } from "./receiver";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Checks what every delivery must carry, whatever its type. */
function expectWellFormed(d: Delivery) {
  expect(d.verifyError).toBeNull();
  expect(Object.keys(d.payload)).toEqual(["id", "type", "timestamp", "data"]);
  expect(d.payload.id).toMatch(/^evt_[0-9a-f]{32}$/);
  expect(d.payload.timestamp).toMatch(ISO);
  expect(d.headers["content-type"]).toBe("application/json");
  expect(d.headers["x-webhook-id"]).toBe(d.payload.id);
  expect(d.headers["webhook-id"]).toBe(d.payload.id);
  expect(d.headers["x-webhook-event"]).toBe(d.payload.type);
  expect(d.headers["x-webhook-timestamp"]).toBe(d.headers["webhook-timestamp"]!);
  expect(Math.abs(Number(d.headers["webhook-timestamp"]) - d.receivedAt / 1000)).toBeLessThan(60);
  expect(d.headers["x-webhook-signature"]).toBe(d.headers["webhook-signature"]!);
  expect(d.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
}

describe("every event type reaches the host once, signed (whsec_ secret)", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);
  beforeAll(() => svc.syncUsers("ann", "bob", "cid"), 30000);

  test("chat changes and presence produce their events with the documented data", async () => {
    const ann = await svc.as("ann");
    const bob = await svc.as("bob");
    const { socket } = await connectSocket(svc.wsUrl, ann.token);
    await eventually(() => receiver.acceptedOf("user.online").length === 1, 10000, "user.online");

    const group = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"], name: "Team" })).body;
    expect((await ann.post(`/api/conversations/${group.id}/participants`, { userIds: ["cid"] })).status).toBe(200);
    const patched = await ann.patch(`/api/conversations/${group.id}`, { name: "Core", slowModeSeconds: 5 });
    expect(patched.status).toBe(200);
    const message = (await ann.post(`/api/conversations/${group.id}/messages`, { content: "hello" })).body;
    // Bob and Cid have no socket: the message notifies them, once worked out (before it changes).
    await eventually(() => receiver.acceptedOf("notification.message").length === 1, 10000, "notification.message");
    expect((await ann.patch(`/api/messages/${message.id}`, { content: "hello, all" })).status).toBe(200);
    expect((await bob.post(`/api/messages/${message.id}/reactions`, { emoji: "👍" })).status).toBe(201);
    expect((await bob.delete(`/api/messages/${message.id}/reactions/${encodeURIComponent("👍")}`)).status).toBe(200);
    const pinned = await ann.post(`/api/messages/${message.id}/pin`);
    expect(pinned.status).toBe(200);
    expect((await ann.delete(`/api/messages/${message.id}/pin`)).status).toBe(204);
    const flagged = await bob.post(`/api/messages/${message.id}/flag`, { reason: "off topic" });
    expect(flagged.status).toBe(201);
    expect((await ann.delete(`/api/messages/${message.id}`)).status).toBe(204);
    expect((await ann.delete(`/api/conversations/${group.id}/participants/cid`)).status).toBe(204);
    expect((await ann.delete(`/api/conversations/${group.id}`)).status).toBe(204);
    socket.disconnect();

    const all = await receiver.waitForAccepted(16);
    const one = (type: string) => {
      const found = receiver.acceptedOf(type);
      expect(found.length).toBe(1);
      return found[0]!.payload;
    };
    for (const d of all) expectWellFormed(d);

    expect(one("user.online").data).toEqual({ userId: "ann", timestamp: expect.stringMatching(ISO) });
    expect(one("conversation.created").data).toMatchObject({
      id: group.id,
      type: "group",
      name: "Team",
      createdBy: "ann",
      participants: expect.arrayContaining([expect.objectContaining({ userId: "ann", role: "owner" }), expect.objectContaining({ userId: "bob", role: "member" })]),
    });
    expect(one("conversation.created").data).not.toHaveProperty("unreadCount");
    expect(one("conversation.created").data).not.toHaveProperty("muted");
    expect(one("conversation.created").data).not.toHaveProperty("mutedUntil");
    expect(one("participant.added").data).toMatchObject({ conversationId: group.id, userId: "cid", role: "member", addedBy: "ann" });
    expect(one("conversation.updated").data).toEqual({
      conversationId: group.id,
      name: "Core",
      metadata: {},
      slowModeSeconds: 5,
      updatedBy: "ann",
      updatedAt: patched.body.updatedAt,
    });
    expect(one("message.created").data).toMatchObject({ id: message.id, conversationId: group.id, seq: 1, senderId: "ann", content: "hello" });
    expect(one("notification.message").data).toEqual({
      message: one("message.created").data,
      recipients: [
        { userId: "bob", mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
        { userId: "cid", mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
      ],
    });
    expect(one("message.updated").data).toMatchObject({ id: message.id, content: "hello, all", isEdited: true });
    expect(one("reaction.added").data).toEqual({ messageId: message.id, conversationId: group.id, emoji: "👍", userId: "bob", totalCount: 1 });
    expect(one("reaction.removed").data).toEqual({ messageId: message.id, conversationId: group.id, emoji: "👍", userId: "bob", totalCount: 0 });
    expect(one("message.pinned").data).toEqual({ conversationId: group.id, messageId: message.id, pinnedBy: "ann", pinnedAt: pinned.body.pinnedAt });
    expect(one("message.unpinned").data).toEqual({ conversationId: group.id, messageId: message.id, unpinnedBy: "ann", unpinnedAt: expect.stringMatching(ISO) });
    expect(one("message.flagged").data).toEqual(flagged.body);
    expect(one("message.deleted").data).toMatchObject({ messageId: message.id, conversationId: group.id, deletedBy: "ann", deletedAt: expect.stringMatching(ISO) });
    expect(one("participant.removed").data).toMatchObject({ conversationId: group.id, userId: "cid", removedBy: "ann" });
    expect(one("conversation.deleted").data).toMatchObject({ conversationId: group.id, deletedBy: "ann" });
    expect(one("user.offline").data).toEqual({ userId: "ann", lastSeen: expect.stringMatching(ISO), timestamp: expect.stringMatching(ISO) });

    // Delivered rows are settled: nothing comes twice, however long the drainer keeps running.
    const settled = async () => (await svc.app.ctx.db.select().from(webhookEvents)).filter((r) => r.status === "delivered").length;
    await eventually(async () => (await settled()) === 16, 5000, "all marked delivered");
    const rows = await svc.app.ctx.db.select().from(webhookEvents);
    expect(rows.length).toBe(16);
    expect(rows.every((r) => r.status === "delivered" && r.attempts === 1 && r.lockedBy === null)).toBe(true);
    await Bun.sleep(500);
    expect(new Set(receiver.deliveries.map((d) => d.payload.id)).size).toBe(receiver.deliveries.length);
    expect(receiver.deliveries.length).toBe(16);
  });

  test("the host can refuse a forged or replayed-late delivery", async () => {
    const d = receiver.accepted()[0]!;
    const { Webhook } = await import("standardwebhooks");
    const verifier = new Webhook(WHSEC_SECRET);
    expect(() => verifier.verify(d.body.replace("ann", "eve"), d.headers)).toThrow();
    const stale = { ...d.headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 600) };
    expect(() => verifier.verify(d.body, stale)).toThrow();
  });
});

describe("a raw (non-whsec_) secret", () => {
  const { svc, receiver } = serviceWithReceiver(RAW_SECRET);
  beforeAll(() => svc.syncUsers("dan", "eve"), 30000);

  test("signs with the secret's UTF-8 bytes, which standardwebhooks verifies", async () => {
    const dan = await svc.as("dan");
    const direct = (await dan.post("/api/conversations", { type: "direct", participantIds: ["eve"] })).body;
    await dan.post(`/api/conversations/${direct.id}/messages`, { content: "hi" });
    // Eve has no socket: the message notifies her too.
    const types = (await receiver.waitForAccepted(3)).map((d) => d.payload.type);
    expect(types.sort()).toEqual(["conversation.created", "message.created", "notification.message"]);
    for (const d of receiver.deliveries) expectWellFormed(d);
    // The 2xx is recorded just after the receiver answered.
    const statusOf = async () => (await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, "message.created")))[0]?.status;
    await eventually(async () => (await statusOf()) === "delivered", 5000, "the event marked delivered");
  });

  test("message.created carries the message exactly as it is stored and read back", async () => {
    const dan = await svc.as("dan");
    const direct = (await dan.post("/api/conversations", { type: "direct", participantIds: ["eve"] })).body;
    const first = (await dan.post(`/api/conversations/${direct.id}/messages`, { content: "first" })).body;
    const sent = await dan.post(`/api/conversations/${direct.id}/messages`, {
      content: "every field",
      attachments: [{ url: "https://files.example/a.png", type: "image", mimeType: "image/png", size: 1234, width: 10, height: 20 }],
      replyTo: first.id,
      clientMessageId: "c-every-field",
      metadata: { source: "test", nested: { n: 1 } },
    });
    expect(sent.status).toBe(201);
    await eventually(() => receiver.acceptedOf("message.created").some((d) => d.payload.data.id === sent.body.id), 10000, "its message.created");
    const event = receiver.acceptedOf("message.created").find((d) => d.payload.data.id === sent.body.id)!;
    const stored = await dan.get(`/api/messages/${sent.body.id}`);
    expect(stored.status).toBe(200);
    expect(event.payload.data).toEqual(stored.body);
    expect(sent.body).toEqual(stored.body);
  });
});

describe("a rotating WEBHOOK_SECRET (old and new, separated by a space)", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { WEBHOOK_SECRET: `${WHSEC_SECRET} ${RAW_SECRET}` });
  beforeAll(() => svc.syncUsers("fay", "gus"), 30000);

  test("each delivery carries one signature per secret, and standardwebhooks accepts it with either", async () => {
    const fay = await svc.as("fay");
    await fay.post("/api/conversations", { type: "direct", participantIds: ["gus"] });
    const [d] = await receiver.waitForAccepted(1);
    expect(d!.verifyError).toBeNull();
    expect(d!.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
    expect(d!.headers["x-webhook-signature"]).toBe(d!.headers["webhook-signature"]!);
    const { Webhook } = await import("standardwebhooks");
    const withOld = new Webhook(WHSEC_SECRET);
    const withNew = new Webhook(new TextEncoder().encode(RAW_SECRET), { format: "raw" });
    const withOther = new Webhook(new TextEncoder().encode("another-webhook-secret-0123456789abcdef"), { format: "raw" });
    expect(withOld.verify(d!.body, d!.headers)).toMatchObject({ id: d!.payload.id });
    expect(withNew.verify(d!.body, d!.headers)).toMatchObject({ id: d!.payload.id });
    expect(() => withOther.verify(d!.body, d!.headers)).toThrow();
  });
});

test("every event type is documented in the webhooks README's table of event data", async () => {
  const readme = await Bun.file(join(import.meta.dir, "../../src/webhooks/README.md")).text();
  const documented = new Set([...readme.matchAll(/^\| `([a-z_.]+)`(?: \/ `([a-z_.]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean)));
  expect(WEBHOOK_EVENT_TYPES.filter((type) => !documented.has(type))).toEqual([]);
});

test("the moderation hook's types are documented too, and are no webhook types: they never reach WEBHOOK_URL", async () => {
  const readme = await Bun.file(join(import.meta.dir, "../../src/webhooks/README.md")).text();
  const documented = new Set([...readme.matchAll(/^\| `([a-z_.]+)`(?: \/ `([a-z_.]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean)));
  expect(MODERATION_HOOK_TYPES.filter((type) => !documented.has(type))).toEqual([]);
  expect(MODERATION_HOOK_TYPES.filter((type) => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type))).toEqual([]);
});
