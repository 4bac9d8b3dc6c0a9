import { beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config";
import { webhookEvents } from "../../src/core/db/schema";
import { withTransaction } from "../../src/core/db/transaction";
import { JITTER, retryDelayMs, shortestRetrySpanMs } from "../../src/webhooks/backoff";
import { recordEvent } from "../../src/webhooks/outbox";
import { serviceForTests } from "../helpers/service";
import { connectSocket, eventually } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "./receiver";

const HOUR = 3_600_000;

describe("the outbox commits with the change it reports", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);
  beforeAll(() => svc.syncUsers("ann", "bob"), 30000);

  test("a rolled-back transaction leaves no event, and nothing is sent for it", async () => {
    const ctx = svc.app.ctx;
    const failed = withTransaction(ctx, async (tx) => {
      await recordEvent(ctx, tx, "message.created", { content: "never happened" });
      throw new Error("the change failed after its event was written");
    });
    await expect(failed).rejects.toThrow("the change failed");
    await withTransaction(ctx, (tx) => recordEvent(ctx, tx, "message.created", { content: "happened" }));

    await receiver.waitForAccepted(1);
    await Bun.sleep(300);
    expect(receiver.deliveries.map((d) => d.payload.data.content)).toEqual(["happened"]);
    const rows = await ctx.db.select().from(webhookEvents);
    expect(rows.map((r) => (r.payload.data as { content: string }).content)).toEqual(["happened"]);
  });

  test("a refused request (bad input) writes no event", async () => {
    const ann = await svc.as("ann");
    const before = (await svc.app.ctx.db.select().from(webhookEvents)).length;
    expect((await ann.post("/api/conversations", { type: "direct", participantIds: ["nobody"] })).status).toBe(404);
    expect((await ann.post("/api/conversations", { type: "group", participantIds: "bob" })).status).toBe(400);
    expect((await svc.app.ctx.db.select().from(webhookEvents)).length).toBe(before);
  });
});

describe("without WEBHOOK_URL", () => {
  const svc = serviceForTests({ WEBHOOK_URL: undefined });
  beforeAll(() => svc.syncUsers("ann", "bob"), 30000);

  test("nothing is written to the outbox and no drainer runs", async () => {
    expect(svc.app.webhooks).toBeUndefined();
    const ann = await svc.as("ann");
    const { socket } = await connectSocket(svc.wsUrl, ann.token);
    const conversation = (await ann.post("/api/conversations", { type: "direct", participantIds: ["bob"] })).body;
    const message = (await ann.post(`/api/conversations/${conversation.id}/messages`, { content: "hi" })).body;
    expect((await ann.post(`/api/messages/${message.id}/reactions`, { emoji: "👍" })).status).toBe(201);
    socket.disconnect();
    await eventually(async () => (await ann.get("/api/users/ann/presence")).body.status === "offline", 5000, "ann offline");
    expect(await svc.app.ctx.db.$count(webhookEvents)).toBe(0);
    expect((await svc.internal("GET", "/api/webhooks/events")).body).toEqual({ data: [], hasMore: false, nextCursor: null });
  });
});

describe("retry schedule", () => {
  const defaults = loadConfig({});

  test("the defaults keep retrying for at least 24 hours, jitter included, before an event is dead", () => {
    expect(shortestRetrySpanMs(defaults)).toBeGreaterThanOrEqual(24 * HOUR);
  });

  test("waits double from the base up to the cap, each within the jitter band", () => {
    const nominal = [1, 2, 3, 4, 10, 30].map((failures) => retryDelayMs(defaults, failures, () => 0.5));
    expect(nominal).toEqual([10_000, 20_000, 40_000, 80_000, HOUR, HOUR]);
    for (let failures = 1; failures < 40; failures++) {
      const low = retryDelayMs(defaults, failures, () => 0);
      const high = retryDelayMs(defaults, failures, () => 0.999999);
      const mid = retryDelayMs(defaults, failures, () => 0.5);
      expect(low).toBe(Math.round(mid * (1 - JITTER)));
      expect(high).toBeLessThanOrEqual(Math.round(mid * (1 + JITTER)));
      expect(high).toBeGreaterThan(low);
    }
  });
});
