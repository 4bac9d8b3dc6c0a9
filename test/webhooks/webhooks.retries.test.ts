import { beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { webhookEvents } from "../../src/core/db/schema";
import type { ApiClient } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { type Exposition, scrape, total } from "../ops/prometheus";
import { accept, answerAfter, deliveredConversation, messageCreatedEventId, serviceWithReceiver, WHSEC_SECRET } from "./receiver";

const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { WEBHOOK_TIMEOUT_MS: "500", WEBHOOK_BACKOFF_BASE_MS: "100", WEBHOOK_BACKOFF_MAX_MS: "400" });
let ann: ApiClient;
let conversationId: string;

beforeAll(async () => {
  ({ ann, conversationId } = await deliveredConversation(svc, receiver));
}, 30000);

/** Sends a message and returns the webhook event id of its message.created. */
async function sendAndFindEvent(content: string): Promise<string> {
  const message = (await ann.post(`/api/conversations/${conversationId}/messages`, { content })).body;
  const eventId = await messageCreatedEventId(svc, message.id);
  expect(eventId).toBeDefined();
  return eventId!;
}

const attemptsOf = (id: string) => receiver.deliveries.filter((d) => d.payload.id === id);
const rowOf = async (id: string) => (await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.id, id)))[0]!;
/** The row once the drainer recorded the 2xx (the receiver sees it a moment before). */
async function deliveredRow(id: string) {
  await eventually(async () => (await rowOf(id)).status === "delivered", 5000, `${id} marked delivered`);
  return rowOf(id);
}

test("an event answered with 500 is retried, signed afresh, until the host accepts it", async () => {
  receiver.behaviour = (d) => (d.payload.data.content === "flaky" && d.attempt < 2 ? new Response("busy", { status: 500 }) : accept(d));
  const id = await sendAndFindEvent("flaky");
  await eventually(() => attemptsOf(id).some((d) => d.answered === 200), 15000, "accepted after retries");
  const attempts = attemptsOf(id);
  expect(attempts.map((d) => d.answered)).toEqual([500, 500, 200]);
  for (const d of attempts) {
    expect(d.verifyError).toBeNull();
    expect(d.headers["webhook-id"]).toBe(id);
  }
  // Backoff: the retries are spaced out, not hammered (100 ms base, ±20% jitter, then doubled).
  expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(70);
  expect(attempts[2]!.receivedAt - attempts[1]!.receivedAt).toBeGreaterThanOrEqual(150);
  const row = await deliveredRow(id);
  expect(row).toMatchObject({ status: "delivered", attempts: 3, lastStatus: 200, lastError: null, lockedBy: null });
}, 30000);

test("an attempt the host does not answer within WEBHOOK_TIMEOUT_MS fails and is retried", async () => {
  receiver.behaviour = (d) => (d.payload.data.content === "slow" && d.attempt === 0 ? answerAfter(2000) : accept(d));
  const id = await sendAndFindEvent("slow");
  await eventually(() => attemptsOf(id).some((d) => d.answered === 200), 15000, "accepted after a timeout");
  const [first, second] = attemptsOf(id);
  expect(second!.answered).toBe(200);
  expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(500);
  expect((await deliveredRow(id)).attempts).toBe(2);
  await eventually(() => first!.abandoned === true, 5000, "the late answer to be ignored");
}, 30000);

test("events raised while the host is down arrive once it is back, and the outbox depth shows them meanwhile", async () => {
  receiver.behaviour = accept;
  receiver.pause();
  const ids = [await sendAndFindEvent("down 1"), await sendAndFindEvent("down 2")];
  await eventually(async () => (await rowOf(ids[0]!)).attempts >= 3, 15000, "several failed attempts");
  const pending = await rowOf(ids[0]!);
  expect(pending.status).toBe("pending");
  expect(pending.lastStatus).toBeNull();
  expect(pending.lastError).toBeTruthy();
  const during = await scrape(svc.url);
  expect(total(during, "chat_webhook_outbox_events", { state: "pending" })).toBeGreaterThanOrEqual(2);
  expect(total(during, "chat_webhook_outbox_oldest_pending_seconds")).toBeGreaterThan(0);
  expect(total(during, "chat_webhook_deliveries_total", { outcome: "failed_attempt" })).toBeGreaterThanOrEqual(3);

  receiver.resume();
  await eventually(() => ids.every((id) => attemptsOf(id).some((d) => d.answered === 200)), 15000, "delivery after the outage");
  for (const id of ids) {
    expect(attemptsOf(id).length).toBe(1); // the failed attempts never reached it
    expect((await deliveredRow(id)).status).toBe("delivered");
  }
  const delivered = (m: Exposition) => total(m, "chat_webhook_deliveries_total", { outcome: "delivered" });
  // The conversation, "flaky", "slow" and the two above, and the notification.message of each of
  // the four messages (Bob has no socket).
  await eventually(async () => delivered(await scrape(svc.url)) === 9, 10000, "counters updated");
  const after = await scrape(svc.url);
  expect(total(after, "chat_webhook_outbox_events", { state: "pending" })).toBe(0);
  expect(delivered(after)).toBe(9);
  expect(total(after, "chat_webhook_delivery_latency_seconds_count")).toBe(9);
  expect(total(after, "chat_webhook_delivery_latency_seconds_bucket", { le: "+Inf" })).toBe(9);
  // The webhook histogram's own bounds, up to an hour, not the request latencies' (10 s at most).
  expect(total(after, "chat_webhook_delivery_latency_seconds_bucket", { le: "3600" })).toBe(9);
}, 30000);
