/**
 * Webhook events per second from commit to a local receiver's 2xx, against the receiver's own
 * request rate at the same concurrency (what it can take when hammered directly).
 *
 * Two figures: the drain rate of an outbox that already holds a backlog (events committed while
 * delivery was impossible, delivered once the receiver is reachable), and end to end while
 * messages are being sent through REST at full speed.
 */
import postgres from "postgres";
import { startChatService } from "../lib/service";
import { pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

type Receiver = { url: string; received: Map<string, number>; stop(): void };

function startReceiver(): Receiver {
  const received = new Map<string, number>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const id = req.headers.get("webhook-id");
      await req.arrayBuffer();
      // hook-b has no socket, so each message also brings a notification.message: delivered by the
      // same drainer, but not counted, so that the figures stay events per message.created.
      if (req.headers.get("x-webhook-event") === "notification.message") return new Response(null, { status: 204 });
      if (id && !received.has(id)) received.set(id, performance.now());
      return new Response(null, { status: 204 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hooks`, received, stop: () => server.stop(true) };
}

async function waitFor(received: Map<string, number>, count: number, label: string): Promise<void> {
  const deadline = performance.now() + 180_000;
  while (received.size < count && performance.now() < deadline) {
    progress(`${label}: ${received.size}/${count} delivered`);
    await Bun.sleep(50);
  }
  progressDone();
}

export async function webhooks({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const events = quick ? 300 : 5000;
  const backlog = quick ? 2000 : 20000;
  const concurrency = 16;
  const receiver = startReceiver();
  const notes: string[] = [];
  const service = await startChatService({
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: "whsec_" + Buffer.from("bench-webhook-secret-0123456789abcdef").toString("base64"),
    WEBHOOK_CONCURRENCY: String(concurrency),
  });
  let endToEnd = 0;
  let drain = 0;
  try {
    await service.syncUsers(["hook-a", "hook-b"]);
    const token = await service.token("hook-a");
    const conv = await service.api(token, "POST", "/api/conversations", { type: "direct", participantIds: ["hook-b"] });
    await waitFor(receiver.received, 1, "setup");

    // End to end: commits through REST while the drainer delivers.
    receiver.received.clear();
    const committedAt = new Map<string, number>();
    const started = performance.now();
    await pool(Array.from({ length: events }), 16, async (_, i) => {
      const res = await service.api(token, "POST", `/api/conversations/${conv.body.id}/messages`, { content: `hook ${i}` });
      if (res.status === 201) committedAt.set(res.body.id, performance.now());
      if (i % 250 === 0) progress(`webhooks: ${i}/${events} committed, ${receiver.received.size} delivered`);
    });
    const commitSeconds = (performance.now() - started) / 1000;
    await waitFor(receiver.received, committedAt.size, "webhooks end to end");
    const last = Math.max(...receiver.received.values());
    endToEnd = receiver.received.size / ((last - started) / 1000);
    notes.push(`end to end: ${committedAt.size} messages committed through REST in ${round(commitSeconds)} s (${round(committedAt.size / commitSeconds)}/s), all delivered ${round((last - started) / 1000 - commitSeconds, 2)} s after the last commit`);

    // Backlog drain: copy the delivered events back as pending under new ids (in the payload too,
    // so each copy is a distinct event to the receiver), then time the drain.
    receiver.received.clear();
    const copies = Math.ceil(backlog / committedAt.size);
    const sql = postgres(service.databaseUrl, { max: 1, onnotice: () => {} });
    await sql`insert into webhook_events (id, type, payload)
      select id, type, jsonb_set(payload, '{id}', to_jsonb(id)) from (
        select 'evt_' || replace(gen_random_uuid()::text, '-', '') as id, type, payload
        from webhook_events, generate_series(1, ${copies}) where type = 'message.created' limit ${backlog}) copied`;
    const [pending] = await sql`select count(*)::int as n from webhook_events where status = 'pending' and type = 'message.created'`;
    await sql.end();
    const drainStart = performance.now();
    await waitFor(receiver.received, pending!.n, "webhooks backlog");
    // The rate from the first delivery to the last: the wait for the drainer's next tick (up to
    // WEBHOOK_DRAIN_INTERVAL_MS) is commit-to-delivery latency, not drain speed; noted apart.
    const times = [...receiver.received.values()];
    const [first, lastDrained] = [Math.min(...times), Math.max(...times)];
    drain = (receiver.received.size - 1) / ((lastDrained - first) / 1000);
    notes.push(
      `backlog: ${receiver.received.size} events, first delivered ${round(first - drainStart)} ms after they were committed, the last ${round((lastDrained - drainStart) / 1000, 2)} s after (${round(receiver.received.size / ((lastDrained - drainStart) / 1000))}/s counting that wait)`,
    );
    if (receiver.received.size < pending!.n) notes.push(`only ${receiver.received.size}/${pending!.n} backlog events delivered within 180 s`);
  } finally {
    await service.stop();
  }

  // The receiver alone, on a fresh server, at the same concurrency with bodies of the same size.
  const direct = startReceiver();
  const body = JSON.stringify({ id: "evt_x", type: "message.created", timestamp: new Date().toISOString(), data: { content: "x".repeat(400) } });
  let n = 0;
  const end = performance.now() + (quick ? 1000 : 5000);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const res = await fetch(direct.url, { method: "POST", body, headers: { "content-type": "application/json", "webhook-id": `b${n}` } });
        await res.arrayBuffer();
        n++;
      }
    }),
  );
  const base = n / ((performance.now() - t0) / 1000);
  direct.stop();
  receiver.stop();
  const baseline = { value: round(base), label: "receiver's own req/s" };
  return {
    scenario: "webhooks",
    params: { events, backlog, concurrency },
    figures: [figure("webhook backlog drain events/s", round(drain), "events/s", baseline), figure("webhook events/s, commit→2xx during REST sends", round(endToEnd), "events/s", baseline)],
    bottleneck:
      "backlog: the round trip of each POST to the receiver's process, 16 in flight (PostgreSQL is no longer in the way: one claim per up to 500 events, one delivered-mark per ~70); end to end: the REST commit rate feeding the outbox",
    notes,
  };
}

