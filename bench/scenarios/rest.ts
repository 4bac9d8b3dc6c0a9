/**
 * REST: requests per second and p99 for sending a message and reading a page, against a trivial
 * Elysia route (GET /health) of the same server at the same concurrency.
 */
import { startChatService } from "../lib/service";
import { latencySummary, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

async function hammer(seconds: number, concurrency: number, request: (i: number) => Promise<Response>) {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const res = await request(n++);
        await res.arrayBuffer();
        if (!res.ok) errors++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { rps: latencies.length / ((performance.now() - started) / 1000), errors, ...latencySummary(latencies) };
}

export async function rest({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const seconds = quick ? 2 : 10;
  const concurrency = 32;
  const service = await startChatService();
  try {
    const users = Array.from({ length: 64 }, (_, i) => `rest-${i}`);
    await service.syncUsers(users);
    const tokens = await Promise.all(users.map((u) => service.token(u)));
    const conversations: string[] = [];
    for (let i = 0; i < 32; i++) {
      const res = await service.api(tokens[2 * i]!, "POST", "/api/conversations", { type: "direct", participantIds: [users[2 * i + 1]] });
      conversations.push(res.body.id);
    }
    const headers = (i: number) => ({ authorization: `Bearer ${tokens[2 * (i % 32)]}`, "content-type": "application/json" });

    progress("REST: trivial route");
    const trivial = await hammer(seconds, concurrency, () => fetch(`${service.url}/health`));
    progress("REST: POST message");
    const post = await hammer(seconds, concurrency, (i) =>
      fetch(`${service.url}/api/conversations/${conversations[i % 32]}/messages`, {
        method: "POST",
        headers: headers(i),
        body: JSON.stringify({ content: `rest message ${i}` }),
      }),
    );
    progress("REST: GET page of 50");
    // The newest page, as a client opens a conversation: built at its first read, then answered
    // as kept while none of its messages changes (src/messages/page-cache.ts).
    const page = await hammer(seconds, concurrency, (i) =>
      fetch(`${service.url}/api/conversations/${conversations[i % 32]}/messages?limit=50`, { headers: headers(i) }),
    );
    // The same 50 messages behind a cursor (the newest message of each conversation): a page with
    // a cursor is never kept, so every read builds it.
    const newestIds = await Promise.all(
      conversations.map(async (id, i) => {
        const res = await service.api(tokens[2 * i]!, "GET", `/api/conversations/${id}/messages?limit=1`);
        return res.body.data[0].id as string;
      }),
    );
    progress("REST: GET page of 50, built for every read");
    const built = await hammer(seconds, concurrency, (i) =>
      fetch(`${service.url}/api/conversations/${conversations[i % 32]}/messages?limit=50&before=${newestIds[i % 32]}`, { headers: headers(i) }),
    );
    progressDone();
    const base = { value: round(trivial.rps), label: "trivial Elysia route, same server" };
    return {
      scenario: "rest",
      params: { seconds, concurrency },
      figures: [
        figure("POST message req/s", round(post.rps), "req/s", base),
        figure("POST message p99", post.p99, "ms", { value: trivial.p99, label: "trivial route p99" }, false),
        figure("GET messages page req/s", round(page.rps), "req/s", base),
        figure("GET messages page p99", page.p99, "ms", { value: trivial.p99, label: "trivial route p99" }, false),
        figure("GET messages page built for every read req/s", round(built.rps), "req/s", base),
        figure("GET messages page built for every read p99", built.p99, "ms", { value: trivial.p99, label: "trivial route p99" }, false),
      ],
      bottleneck:
        "POST: one send statement at a time, its sends answered together (the cores are not full); a page built: PostgreSQL building 50 messages' JSON and the service passing it on; a kept page: the page statement's checks, one round trip",
      notes: [`errors: post ${post.errors}, page ${page.errors}, built ${built.errors}, trivial ${trivial.errors}`],
    };
  } finally {
    await service.stop();
  }
}
