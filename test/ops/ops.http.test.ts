import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { ShutdownDrain } from "../../src/ops/drain";
import { call, group, makeUsers, ok } from "../helpers/realtime";
import { serviceForTests, startService } from "../helpers/service";
import { connectSocket, nextEvent } from "../helpers/sockets";
import { parsePrometheus, total } from "./prometheus";

const svc = serviceForTests();

/** Every route of CONTRACT §3 (REST) and §4 (internal API), as METHOD path. */
const CONTRACT_ROUTES = [
  "POST /api/conversations",
  "GET /api/conversations",
  "GET /api/conversations/:id",
  "DELETE /api/conversations/:id",
  "PATCH /api/conversations/:id",
  "POST /api/conversations/:id/participants",
  "PATCH /api/conversations/:id/participants/:userId",
  "DELETE /api/conversations/:id/participants/:userId",
  "POST /api/conversations/:conversationId/messages",
  "GET /api/conversations/:conversationId/messages",
  "GET /api/messages/:id",
  "PATCH /api/messages/:id",
  "DELETE /api/messages/:id",
  "POST /api/messages/:messageId/reactions",
  "DELETE /api/messages/:messageId/reactions/:emoji",
  "GET /api/messages/:messageId/reactions",
  "PUT /api/messages/:messageId/read",
  "PUT /api/conversations/:conversationId/read",
  "GET /api/messages/:messageId/read",
  "GET /api/conversations/:conversationId/unread-count",
  "GET /api/users/:userId/presence",
  "GET /api/conversations/:conversationId/presence",
  "POST /api/presence/batch",
  "POST /api/users/sync",
  "POST /api/users/sync/batch",
  "GET /api/users/:externalUserId",
  "DELETE /api/users/:externalUserId",
];
/** Parameter names may differ between the contract and the routes; the shape of the path may not. */
const shape = (route: string) => route.replace(/:\w+/g, "{}").replace(/\{\w+\}/g, "{}");

describe("health and readiness", () => {
  test("/health answers while the process is up", async () => {
    const res = await svc.request("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  test("/ready checks the database, its migrations and Redis", async () => {
    const res = await svc.request("GET", "/ready");
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("ready");
    expect(res.body.checks).toMatchObject({ database: "ok", migrations: "ok", shutdown: "no" });
    expect(res.body.checks.redis).toBe(svc.config.REDIS_URL ? "ok" : "not configured (in-process store)");
  });

  test("a database missing a migration is not ready: 503 UNAVAILABLE in the contract's error format", async () => {
    const other = await startService();
    try {
      await other.app.ctx.db.execute(sql`delete from drizzle.__drizzle_migrations`);
      const res = await other.request("GET", "/ready");
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("UNAVAILABLE");
      expect(res.body.error.message).toContain("migrations");
      expect(res.body.error.details.checks.migrations).toMatch(/^pending \(0 of \d+ applied\)$/);
      expect(res.headers.get("x-request-id")).toBeTruthy();
    } finally {
      await other.stop();
    }
  }, 60_000);

  test("once shutdown begins: not ready, and socket events are refused with UNAVAILABLE", async () => {
    const other = await startService();
    try {
      const [ann, bob] = await makeUsers(other, "ann", "bob");
      const conversationId = await group(other, ann!, [bob!]);
      const { socket } = await connectSocket(other.wsUrl, await other.token(ann!));
      expect((await call(socket, "message:send", { conversationId, content: "before" })).ok).toBe(true);
      (other.app.ctx.drain as ShutdownDrain).begin();
      const refused = await call(socket, "message:send", { conversationId, content: "during" });
      expect(refused).toEqual({ ok: false, error: { code: "UNAVAILABLE", message: expect.any(String) } });
      const ready = await other.request("GET", "/ready");
      expect(ready.status).toBe(503);
      expect(ready.body.error.details.checks.shutdown).toBe("in progress");
      const page = await (await other.as(ann!)).get(`/api/conversations/${conversationId}/messages`);
      expect(page.body.data.map((m: { content: string }) => m.content)).toEqual(["before"]);
    } finally {
      await other.stop();
    }
  }, 60_000);
});

describe("/metrics", () => {
  test("is valid Prometheus text with REST, socket, message, fan-out, database and webhook metrics", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const { socket: bobSocket } = await connectSocket(svc.wsUrl, await svc.token(bob!));
    const arrived = nextEvent(bobSocket, "message:new", (m: { content: string }) => m.content === "by socket");
    const annClient = await svc.as(ann!);
    expect((await annClient.post(`/api/conversations/${conversationId}/messages`, { content: "by REST" })).status).toBe(201);
    const { socket: annSocket } = await connectSocket(svc.wsUrl, annClient.token);
    await ok(annSocket, "message:send", { conversationId, content: "by socket" });
    await arrived;

    const res = await fetch(`${svc.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const m = parsePrometheus(await res.text());
    expect(m.types.get("chat_http_request_duration_seconds")).toBe("histogram");
    expect(total(m, "chat_http_request_duration_seconds_count", { method: "POST", route: "/api/conversations/:id/messages", status: "201" })).toBeGreaterThanOrEqual(1);
    expect(total(m, "chat_messages_sent_total")).toBeGreaterThanOrEqual(2);
    expect(total(m, "chat_socket_events_total", { event: "message:send" })).toBeGreaterThanOrEqual(1);
    expect(m.types.get("chat_socket_connections")).toBe("gauge");
    expect(total(m, "chat_socket_connections")).toBeGreaterThanOrEqual(2);
    expect(total(m, "chat_socket_connections_total")).toBeGreaterThanOrEqual(2);
    expect(total(m, "chat_message_fanout_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(total(m, "chat_socket_event_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(total(m, "chat_database_up", { driver: svc.app.ctx.storage.driver })).toBe(1);
    expect(total(m, "chat_database_pool_connections")).toBeGreaterThanOrEqual(1);
    expect(m.types.get("chat_webhook_outbox_events")).toBe("gauge");
    expect(m.types.get("chat_webhook_deliveries_total")).toBe("counter");
    expect(m.types.get("chat_webhook_delivery_latency_seconds")).toBe("histogram");
    if (svc.config.REDIS_URL) expect(total(m, "chat_redis_up")).toBe(3);
    else expect(m.types.has("chat_redis_up")).toBe(false);
    expect(total(m, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });
});

describe("OpenAPI", () => {
  test("/openapi.json describes every route of the REST and internal APIs from the route schemas", async () => {
    const res = await svc.request("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${shape(path)}`),
    );
    const missing = CONTRACT_ROUTES.filter((route) => !documented.includes(`${route.split(" ")[0]} ${shape(route.split(" ")[1]!)}`));
    expect(missing).toEqual([]);

    const send = doc.paths["/api/conversations/{id}/messages"].post;
    expect(send.summary).toBeTruthy();
    expect(send.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(send.requestBody.content)).toEqual(["application/json"]);
    expect(send.requestBody.content["application/json"].schema.properties.content.type).toBe("string");
    expect(send.responses["201"].content["application/json"].schema.properties.seq).toMatchObject({ type: "integer" });
    expect(send.responses["4XX"].content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
    expect(doc.paths["/api/users/sync"].post.security).toEqual([{ internalSecret: [] }]);
    expect(doc.paths["/api/messages/{id}"].delete.responses["204"]).toBeDefined();
    expect(doc.paths["/ready"].get.security).toEqual([]);
    expect(doc.paths["/socket.io"]).toBeUndefined();
    expect(doc.paths["/docs"]).toBeUndefined();
    expect(doc.components.securitySchemes.internalSecret).toMatchObject({ type: "apiKey", in: "header", name: "X-Internal-Secret" });
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) expect(op.summary, `${method} ${path}`).toBeTruthy();
    }
  });

  test("/docs is one self-contained page: every route, no script or stylesheet from elsewhere", async () => {
    const res = await fetch(`${svc.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).not.toMatch(/<script|<link|@import|(src|href)="(https?:)?\/\//i);
    for (const route of ["/api/conversations/{id}/messages", "/api/users/sync/batch", "/api/presence/batch", "/ready"]) expect(html).toContain(route);
  });
});
