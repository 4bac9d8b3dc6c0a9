import { beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { webhookEvents } from "../../src/core/db/schema";
import { type ApiClient, INTERNAL_SECRET } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { type Exposition, scrape, total } from "../ops/prometheus";
import { accept, deliveredConversation, messageCreatedEventId, serviceWithReceiver, WHSEC_SECRET } from "./receiver";

const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { WEBHOOK_BACKOFF_BASE_MS: "50", WEBHOOK_BACKOFF_MAX_MS: "100", WEBHOOK_MAX_ATTEMPTS: "3" });
let ann: ApiClient;
let conversationId: string;
/** Contents the receiver refuses, as a host whose handler is broken for them would. */
const refused = new Set<string>();
receiver.behaviour = (d) => (refused.has(d.payload.data.content) ? new Response("handler crashed", { status: 500 }) : accept(d));

beforeAll(async () => {
  ({ ann, conversationId } = await deliveredConversation(svc, receiver));
}, 30000);

async function send(content: string): Promise<string> {
  const message = (await ann.post(`/api/conversations/${conversationId}/messages`, { content })).body;
  return (await messageCreatedEventId(svc, message.id))!;
}
const eventView = async (id: string) => (await svc.internal("GET", `/api/webhooks/events/${id}`)).body;
const acceptedCount = (id: string) => receiver.accepted().filter((d) => d.payload.id === id).length;

describe("dead events", () => {
  let doomed: string;

  test("after WEBHOOK_MAX_ATTEMPTS failures an event is kept as dead and listed with its last error", async () => {
    refused.add("doomed");
    doomed = await send("doomed");
    await eventually(async () => (await eventView(doomed)).status === "dead", 15000, "dead");
    expect(receiver.deliveries.filter((d) => d.payload.id === doomed).length).toBe(3);

    const dead = await svc.internal("GET", "/api/webhooks/events?status=dead");
    expect(dead.status).toBe(200);
    expect(dead.body).toMatchObject({ hasMore: false, nextCursor: null });
    expect(dead.body.data).toEqual([
      expect.objectContaining({
        id: doomed,
        type: "message.created",
        status: "dead",
        attempts: 3,
        lastStatus: 500,
        lastError: "HTTP 500: handler crashed",
        nextAttemptAt: null,
        deliveredAt: null,
        payload: expect.objectContaining({ id: doomed, type: "message.created", data: expect.objectContaining({ content: "doomed" }) }),
      }),
    ]);
    // Waiting longer changes nothing: a dead event is not retried by itself.
    await Bun.sleep(400);
    expect(receiver.deliveries.filter((d) => d.payload.id === doomed).length).toBe(3);

    const outcome = (m: Exposition, outcome: string) => total(m, "chat_webhook_deliveries_total", { outcome });
    await eventually(async () => outcome(await scrape(svc.url), "dead") === 1, 5000, "dead counted");
    const stats = await scrape(svc.url);
    expect(outcome(stats, "dead")).toBe(1);
    expect(total(stats, "chat_webhook_outbox_events", { state: "dead" })).toBe(1);
    expect(outcome(stats, "failed_attempt")).toBe(3);
  }, 30000);

  test("redelivering one event sends it again with the same id and a fresh schedule", async () => {
    refused.delete("doomed");
    const res = await svc.internal("POST", `/api/webhooks/events/${doomed}/redeliver`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: doomed, status: "pending", attempts: 0 });
    await eventually(() => acceptedCount(doomed) === 1, 15000, "redelivered");
    const delivered = receiver.accepted().find((d) => d.payload.id === doomed)!;
    expect(delivered.verifyError).toBeNull();
    await eventually(async () => (await eventView(doomed)).status === "delivered", 5000, "marked delivered");
    expect(await eventView(doomed)).toMatchObject({ attempts: 1, lastStatus: 200, lastError: null, deliveredAt: expect.any(String) });
  }, 30000);

  test("redelivering all dead events resends each of them once", async () => {
    refused.add("dead a");
    refused.add("dead b");
    const ids = [await send("dead a"), await send("dead b")];
    await eventually(async () => (await svc.internal("GET", "/api/webhooks/events?status=dead")).body.data.length === 2, 15000, "two dead");
    refused.clear();
    const res = await svc.internal("POST", "/api/webhooks/events/redeliver-dead");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ redelivered: 2 });
    await eventually(() => ids.every((id) => acceptedCount(id) === 1), 15000, "both redelivered");
    await eventually(async () => (await svc.internal("GET", "/api/webhooks/events?status=dead")).body.data.length === 0, 5000, "none dead");
    expect((await svc.internal("POST", "/api/webhooks/events/redeliver-dead")).body).toEqual({ redelivered: 0 });
  }, 30000);

  test("an unknown event is 404, a malformed id 400", async () => {
    const unknown = await svc.internal("POST", `/api/webhooks/events/evt_${"0".repeat(32)}/redeliver`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("NOT_FOUND");
    const malformed = await svc.internal("GET", "/api/webhooks/events/nope");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("VALIDATION_ERROR");
  });
});

describe("listing", () => {
  test("pages newest first with {data, hasMore, nextCursor}", async () => {
    const all = (await svc.internal("GET", "/api/webhooks/events?limit=100")).body.data as { id: string; createdAt: string }[];
    // The conversation, "doomed", "dead a", "dead b", and the notification.message of each message.
    expect(all.length).toBe(7);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await svc.internal("GET", `/api/webhooks/events?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((e: { id: string }) => e.id));
      cursor = page.body.nextCursor;
      expect(page.body.hasMore).toBe(cursor !== null);
    } while (cursor);
    expect(seen).toEqual(all.map((e) => e.id));
    expect([...seen].sort().reverse()).toEqual(seen);
  });

  test("filters by status and rejects bad input with the contract's error", async () => {
    const delivered = await svc.internal("GET", "/api/webhooks/events?status=delivered");
    expect(delivered.body.data.length).toBeGreaterThan(0);
    expect(delivered.body.data.every((e: { status: string }) => e.status === "delivered")).toBe(true);
    for (const query of ["status=lost", "limit=0", "limit=101", "cursor=abc"]) {
      const bad = await svc.internal("GET", `/api/webhooks/events?${query}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("VALIDATION_ERROR");
    }
  });

  test("needs the internal secret; a user token does not open it", async () => {
    expect((await svc.request("GET", "/api/webhooks/events")).status).toBe(401);
    expect((await ann.get("/api/webhooks/events")).status).toBe(401);
    const wrong = await svc.request("POST", "/api/webhooks/events/redeliver-dead", { headers: { "x-internal-secret": `${INTERNAL_SECRET}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("UNAUTHORIZED");
  });
});

describe("purging", () => {
  test("removes delivered events older than the window, never pending or dead ones", async () => {
    refused.add("kept dead");
    const dead = await send("kept dead");
    await eventually(async () => (await eventView(dead)).status === "dead", 15000, "dead");
    const count = async (status: string) => (await svc.internal("GET", `/api/webhooks/events?status=${status}&limit=100`)).body.data.length;
    const delivered = await count("delivered");
    expect(delivered).toBeGreaterThan(0);

    expect((await svc.internal("POST", "/api/webhooks/events/purge")).body).toEqual({ purged: 0 }); // within WEBHOOK_RETENTION_HOURS
    expect((await svc.internal("POST", "/api/webhooks/events/purge", { olderThanHours: 1 })).body).toEqual({ purged: 0 });
    const bad = await svc.internal("POST", "/api/webhooks/events/purge", { olderThanHours: -1 });
    expect(bad.status).toBe(400);
    expect(await count("delivered")).toBe(delivered);

    const purged = await svc.internal("POST", "/api/webhooks/events/purge", { olderThanHours: 0 });
    expect(purged.status).toBe(200);
    expect(purged.body).toEqual({ purged: delivered });
    expect(await count("delivered")).toBe(0);
    expect(await count("dead")).toBe(1);
  }, 30000);

  test("the drainer purges by itself on its slower timer", async () => {
    const recent = await send("old news");
    await eventually(async () => (await eventView(recent)).status === "delivered", 15000, "delivered");
    // Make it an event of 9 days ago, delivered 200 hours ago: beyond WEBHOOK_RETENTION_HOURS (168).
    const nineDaysAgo = Date.now() - 9 * 24 * 3_600_000;
    const id = `evt_${nineDaysAgo.toString(16).padStart(12, "0")}${recent.slice(16)}`;
    await svc.app.ctx.db
      .update(webhookEvents)
      .set({ id, createdAt: new Date(nineDaysAgo), deliveredAt: sql`now() - interval '200 hours'` })
      .where(eq(webhookEvents.id, recent));
    const fresh = await send("fresh news");
    await eventually(async () => (await svc.internal("GET", `/api/webhooks/events/${id}`)).status === 404, 15000, "purged by the timer");
    await eventually(async () => (await eventView(fresh)).status === "delivered", 5000, "recent one kept");
  }, 30000);
});
