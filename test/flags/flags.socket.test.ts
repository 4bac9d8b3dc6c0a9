/** Flags over Socket.IO: `message:flag` acks the flag as REST answers it; bad payloads change nothing. */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messageFlags, webhookEvents } from "../../src/core/db/schema";
import { call, callUntyped, groupWithOutsider, ok } from "../helpers/realtime";
import { nextEvent } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc } = serviceWithReceiver(WHSEC_SECRET);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const flagsOf = async (messageId: string) => svc.app.ctx.db.select().from(messageFlags).where(eq(messageFlags.messageId, messageId));
const flaggedAbout = async (messageId: string) =>
  (await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, "message.flagged")).orderBy(webhookEvents.id)).map((r) => r.payload.data).filter((d: any) => d.messageId === messageId);

describe("message:flag", () => {
  test("acks the flag; again, the stored one; the webhook is written once", async () => {
    const { ann, bob, conversationId, sockets } = await groupWithOutsider(svc);
    const message = await ok(sockets.ann, "message:send", { conversationId, content: "rude" });
    const flag = await ok(sockets.bob, "message:flag", { messageId: message.id, reason: "spam" });
    expect(flag).toEqual({ messageId: message.id, conversationId, userId: bob, reason: "spam", createdAt: expect.stringMatching(ISO) });
    expect(await ok(sockets.bob, "message:flag", { messageId: message.id })).toEqual(flag);
    // The same flag through REST.
    const rest = await (await svc.as(bob)).post(`/api/messages/${message.id}/flag`, {});
    expect({ status: rest.status, body: rest.body }).toEqual({ status: 200, body: flag });
    expect(await ok(sockets.ann, "message:flag", { messageId: message.id })).toMatchObject({ userId: ann, reason: null });
    expect(await flaggedAbout(message.id)).toEqual([flag, expect.objectContaining({ userId: ann })]);
  });

  test("an outsider gets NOT_FOUND; bad payloads VALIDATION_ERROR; nothing is stored", async () => {
    const { conversationId, sockets } = await groupWithOutsider(svc);
    const message = await ok(sockets.ann, "message:send", { conversationId, content: "fine" });
    expect(await call(sockets.eve, "message:flag", { messageId: message.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    const bad = [
      { messageId: "not-a-uuid" },
      {},
      { messageId: message.id, reason: "x".repeat(501) },
      { messageId: message.id, reason: 7 },
      { messageId: message.id, reason: "nul \u0000" },
      "text",
      null,
    ];
    for (const payload of bad) expect(await callUntyped(sockets.bob, "message:flag", payload)).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    const error = nextEvent(sockets.bob, "error");
    sockets.bob.emit("message:flag", { messageId: "nope" });
    expect(await error).toMatchObject({ code: "VALIDATION_ERROR" });
    expect(await flagsOf(message.id)).toEqual([]);
    expect(await flaggedAbout(message.id)).toEqual([]);
  });
});
