/**
 * Webhook events per second from commit to a local receiver's 2xx, against the receiver's own
 * request rate at the same concurrency (what it can take when hammered directly).
 */
import { startChatService } from "../lib/service";
import { latencySummary, pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

export async function webhooks({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const events = quick ? 300 : 5000;
  const concurrency = 16;
  const received = new Map<string, number>();
  const receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const id = req.headers.get("webhook-id");
      await req.arrayBuffer();
      if (id && !received.has(id)) received.set(id, performance.now());
      return new Response(null, { status: 204 });
    },
  });
  const url = `http://127.0.0.1:${receiver.port}/hooks`;
  const service = await startChatService({ WEBHOOK_URL: url, WEBHOOK_SECRET: "whsec_" + Buffer.from("bench-webhook-secret-0123456789abcdef").toString("base64"), WEBHOOK_CONCURRENCY: String(concurrency) });
  try {
    const users = ["hook-a", "hook-b"];
    await service.syncUsers(users);
    const token = await service.token("hook-a");
    const conv = await service.api(token, "POST", "/api/conversations", { type: "direct", participantIds: ["hook-b"] });
    await Bun.sleep(1500);
    received.clear();
    const committedAt: number[] = [];
    const started = performance.now();
    await pool(Array.from({ length: events }), 16, async (_, i) => {
      const res = await service.api(token, "POST", `/api/conversations/${conv.body.id}/messages`, { content: `hook ${i}` });
      if (res.status === 201) committedAt.push(performance.now());
      if (i % 200 === 0) progress(`webhooks: ${i}/${events} committed, ${received.size} delivered`);
    });
    const deadline = performance.now() + 120_000;
    while (received.size < committedAt.length && performance.now() < deadline) {
      progress(`webhooks: ${received.size}/${committedAt.length} delivered`);
      await Bun.sleep(100);
    }
    progressDone();
    const lastDelivery = Math.max(...received.values());
    const ours = received.size / ((lastDelivery - started) / 1000);

    // The receiver alone, driven at the same concurrency with bodies of the same size.
    const body = JSON.stringify({ id: "evt_x", type: "message.created", timestamp: new Date().toISOString(), data: { content: "x".repeat(400) } });
    let n = 0;
    const end = performance.now() + (quick ? 1000 : 5000);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", "webhook-id": `b${n}` } });
          await res.arrayBuffer();
          n++;
        }
      }),
    );
    const base = n / ((performance.now() - t0) / 1000);
    const lat = latencySummary(
      [...received.values()].sort((a, b) => a - b).map((t, i) => t - (committedAt.sort((a, b) => a - b)[i] ?? t)),
    );
    return {
      scenario: "webhooks",
      params: { events, concurrency },
      figures: [figure("webhook events/s commit→2xx", round(ours), "events/s", { value: round(base), label: "receiver's own req/s" })],
      bottleneck: "message commits through REST feed the outbox; the drainer's poll interval and per-event signing/POST bound delivery",
      notes: [`delivered ${received.size}/${committedAt.length}; approximate commit→delivery latency p50 ${lat.p50} ms, p99 ${lat.p99} ms`],
    };
  } finally {
    await service.stop();
    receiver.stop(true);
  }
}
