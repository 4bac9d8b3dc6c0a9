import { afterAll, beforeAll, expect, test } from "bun:test";
import { createLogger } from "../../src/core/log";
import { parsePrometheus, total } from "../ops/prometheus";
import { call, connectAs, group, makeUsers } from "../helpers/realtime";
import { tcpRelay } from "../helpers/relay";
import { redisServer } from "../helpers/servers";
import { type ClientSocket, eventually } from "../helpers/sockets";
import { startService, type TestService } from "../helpers/service";

/**
 * Redis goes away for one service (cut between it and a real Redis server, in both modes): chat
 * goes on at database speed, what needs Redis says so at once, and everything is back when Redis
 * is, without a restart.
 */
let relay: Awaited<ReturnType<typeof tcpRelay>>;
let svc: TestService;
const lines: string[] = [];
let ann: string;
let conversationId: string;
let socket: ClientSocket;

beforeAll(async () => {
  relay = await tcpRelay(new URL(await redisServer()));
  svc = await startService({ REDIS_URL: relay.url, PRESENCE_TTL_MS: "3000" }, {}, createLogger("warn", {}, (line) => lines.push(line)));
  const [a, bob] = await makeUsers(svc, "ann", "bob");
  ann = a!;
  conversationId = await group(svc, ann, [bob!]);
  socket = await connectAs(svc.wsUrl, svc, ann);
}, 60_000);

afterAll(async () => {
  await relay.restore();
  await svc.stop();
  relay.close();
});

/** The answer, and how long it took. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; res: T }> {
  const started = performance.now();
  const res = await work();
  return { ms: performance.now() - started, res };
}

const localBudgetCount = async () => {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  return total(parsePrometheus(text), "chat_rate_limit_local_total");
};

test("while Redis is unreachable, sends are acked at database speed; typing, presence and readiness answer at once", async () => {
  const client = await svc.as(ann);
  relay.cut();

  for (let i = 0; i < 5; i++) {
    const { ms, res } = await timed(() => call(socket, "message:send", { conversationId, content: `during ${i}`, clientMessageId: `outage-${i}` }));
    expect(res).toMatchObject({ ok: true, data: { content: `during ${i}` } });
    expect(ms).toBeLessThan(1000);
  }
  // Nothing waits for Redis: typically within 100 ms (a loaded machine may delay one answer,
  // never by a reconnection delay of seconds).
  const waits: number[] = [];
  for (const event of ["typing:start", "recording:start", "typing:stop", "recording:stop", "typing:start"] as const) {
    const { ms, res } = await timed(() => call(socket, event, { conversationId }));
    expect(res).toEqual({ ok: false, error: { code: "UNAVAILABLE", message: expect.any(String) } });
    waits.push(ms);
  }
  for (let i = 0; i < 5; i++) {
    const presence = await timed(() => client.get(`/api/users/${ann}/presence`));
    expect(presence.res.status).toBe(503);
    expect(presence.res.body.error.code).toBe("UNAVAILABLE");
    waits.push(presence.ms);
  }
  expect([...waits].sort((x, y) => x - y)[Math.floor(waits.length / 2)]).toBeLessThan(100);
  expect(Math.max(...waits)).toBeLessThan(1000);
  const ready = await timed(() => svc.request("GET", "/ready"));
  expect(ready.res.status).toBe(503);
  expect(ready.ms).toBeLessThan(1000);

  // The budgets were counted by this instance alone, and it said so.
  expect(await localBudgetCount()).toBeGreaterThanOrEqual(5);
  expect(lines.map((l) => JSON.parse(l).msg)).toContain("rate limits counted per instance: the shared store is unreachable");

  await relay.restore();
  await eventually(async () => (await svc.request("GET", "/ready")).status === 200, 10_000, "ready again");
  expect(await call(socket, "typing:start", { conversationId })).toEqual({ ok: true, data: {} });
  // The heartbeat (every PRESENCE_TTL_MS / 3) brings the connected user back online.
  await eventually(async () => (await client.get(`/api/users/${ann}/presence`)).body.status === "online", 5000, "ann online again");
  const counted = await localBudgetCount();
  expect(await call(socket, "message:send", { conversationId, content: "after" })).toMatchObject({ ok: true });
  expect(await localBudgetCount()).toBe(counted);
  const sent = (await client.get(`/api/conversations/${conversationId}/messages`)).body.data.map((m: { content: string }) => m.content);
  expect(sent).toEqual(["during 0", "during 1", "during 2", "during 3", "during 4", "after"]);
}, 60_000);
