import { describe, expect, test } from "bun:test";
import { call, callUntyped, connectAs, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { connectSocket, nextEvent } from "../helpers/sockets";

const EVENTS_PER_SOCKET = 40;
const MESSAGES_PER_USER = 3;
const MAX_BODY_BYTES = 600_000;
const svc = serviceForTests({
  RATE_LIMIT_EVENTS: String(EVENTS_PER_SOCKET),
  RATE_LIMIT_MESSAGES: String(MESSAGES_PER_USER),
  MAX_BODY_BYTES: String(MAX_BODY_BYTES),
});

/** The service still answers: REST health, and a fresh socket's ping. */
async function stillServing() {
  expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  const [probe] = await makeUsers(svc, "probe");
  const socket = await connectAs(svc.wsUrl, svc, probe!);
  expect((await call(socket, "ping", {})).ok).toBe(true);
  socket.close();
}

const closedWith = (socket: ReturnType<typeof Object>) => new Promise<string>((resolve) => socket.once("disconnect", resolve));

const CLIENT_EVENTS = [
  "message:send",
  "message:edit",
  "message:delete",
  "reaction:add",
  "reaction:remove",
  "message:read",
  "conversation:read",
  "typing:start",
  "typing:stop",
  "recording:start",
  "recording:stop",
  "messages:sync",
  "thread:replies",
  "room:join",
  "room:leave",
  "presence:get",
];
const GARBAGE: unknown[] = ["text", 42, true, null, [1, 2], {}, { conversationId: 5, messageId: ["x"] }, { conversationId: "not-a-uuid", messageId: "nope" }];

describe("a misbehaving client", () => {
  test("garbage and wrongly typed payloads on every event get VALIDATION_ERROR", async () => {
    const [ann] = await makeUsers(svc, "ann");
    for (const event of CLIENT_EVENTS) {
      const socket = await connectAs(svc.wsUrl, svc, ann!);
      for (const payload of GARBAGE) {
        const res = await callUntyped(socket, event, payload);
        expect(res.ok).toBe(false);
        if (!res.ok) expect(res.error.code).toBe("VALIDATION_ERROR");
      }
      const none = await callUntyped(socket, event);
      expect(none.ok).toBe(false);
      socket.close();
    }
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    for (const event of ["ping", "activity:ping"]) {
      const res = await callUntyped(socket, event, "text");
      expect(res.ok ? "ok" : res.error.code).toBe("VALIDATION_ERROR");
      expect((await callUntyped(socket, event)).ok).toBe(true);
    }
    await stillServing();
  });

  test("validation errors name the failing field", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const res = await call(socket, "message:send", { conversationId: "nope", content: "hi" });
    expect(res).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    if (!res.ok) expect(JSON.stringify(res.error)).toContain("/conversationId");
  });

  test("a number given as text outside its range is VALIDATION_ERROR naming the field, not INTERNAL", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const conversationId = await group(svc, ann!, [ann!]);
    const attachments = [{ url: "https://cdn.example.com/a.png", height: "-1" }];
    const res = await callUntyped(socket, "message:send", { conversationId, content: "hi", attachments });
    expect(res).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR", details: [{ path: "/attachments/0/height" }] } });
    socket.close();
  });

  test("without an ack callback a failure arrives as an error event", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const error = nextEvent(socket, "error");
    (socket as any).emit("message:send", { conversationId: 12 });
    const body = await error;
    expect(body).toMatchObject({ code: "VALIDATION_ERROR" });
    expect(typeof body.message).toBe("string");
    expect(body.timestamp).toMatch(/Z$/);
  });

  test("unknown events are refused, with an ack or an error event", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    expect(await callUntyped(socket, "no:such:event", {})).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    const error = nextEvent(socket, "error");
    (socket as any).emit("another:unknown", "x".repeat(1000));
    expect(await error).toMatchObject({ code: "VALIDATION_ERROR" });
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(await callUntyped(socket, name, {})).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    }
    // A client-sent "error" event is not one the server handles either (Socket.IO listens for
    // it itself), and must not break anything.
    expect(await callUntyped(socket, "error", { boom: true })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR", message: 'Unknown event "error"' } });
    const answered = nextEvent(socket, "error");
    (socket as any).emit("error", { boom: true });
    expect(await answered).toMatchObject({ code: "VALIDATION_ERROR" });
    expect((await call(socket, "ping", {})).ok).toBe(true);
  });

  test("unknown events, \"error\" included, count against the socket's budget", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const answers = await Promise.all(Array.from({ length: EVENTS_PER_SOCKET }, (_, i) => callUntyped(socket, i % 2 ? "error" : "no:such:event", {})));
    expect(answers.every((a) => !a.ok && a.error.code === "VALIDATION_ERROR")).toBe(true);
    expect(await call(socket, "ping", {})).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    expect(await callUntyped(socket, "error", {})).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
  });

  test("keys named like Object.prototype's members are ignored at every level, as in REST bodies", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    // Socket.IO decodes with JSON.parse, so `__proto__` arrives as an own key, as it would from a browser.
    const payload = JSON.parse(`{"conversationId":"${conversationId}","content":"hi","constructor":1,"metadata":{"ok":2,"toString":"t","constructor":"c","__proto__":{"z":1},"nested":{"hasOwnProperty":"h","keep":3}}}`);
    const res = await call(socket, "message:send", payload);
    expect(res).toMatchObject({ ok: true });
    if (!res.ok) return;
    expect(res.data.metadata).toEqual({ ok: 2, nested: { keep: 3 } });
    const stored = await svc.as(ann!).then((client) => client.get(`/api/messages/${res.data.id}`));
    expect(stored.body.metadata).toEqual({ ok: 2, nested: { keep: 3 } });
  });

  test("a payload above the per-event bound is PAYLOAD_TOO_LARGE", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const res = await call(socket, "message:send", { conversationId, content: "hi", metadata: { blob: "x".repeat(300_000) } });
    expect(res).toMatchObject({ ok: false, error: { code: "PAYLOAD_TOO_LARGE" } });
    expect((await call(socket, "ping", {})).ok).toBe(true);
  });

  for (const transport of ["websocket", "polling"] as const) {
    test(`a packet above MAX_BODY_BYTES closes that connection only (${transport})`, async () => {
      const [ann] = await makeUsers(svc, "ann");
      const { socket } = await connectSocket(svc.wsUrl, await svc.token(ann!), { transports: [transport] });
      const closed = closedWith(socket);
      (socket as any).emit("message:send", { content: "x".repeat(MAX_BODY_BYTES + 10) });
      expect(await closed).toMatch(/transport (close|error)|parse error/);
      await stillServing();
    });
  }

  test("malformed packets and deeply nested payloads do not take the service down", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const { socket } = await connectSocket(svc.wsUrl, await svc.token(ann!));
    const deep = "[".repeat(50_000) + "]".repeat(50_000);
    const nested = await call(socket, "message:send", JSON.parse("[".repeat(500) + "]".repeat(500)));
    expect(nested.ok).toBe(false);
    const deepMetadata = JSON.parse(`{"conversationId":"${crypto.randomUUID()}","content":"hi","metadata":{"a":${"[".repeat(100)}${"]".repeat(100)}}}`);
    expect(await call(socket, "message:send", deepMetadata)).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    const tooDeep = nextEvent(socket, "error");
    (socket.io.engine as unknown as { send(data: string): void }).send(`2["message:send",${deep}]`);
    expect(await tooDeep).toMatchObject({ code: "VALIDATION_ERROR" });
    const closed = closedWith(socket);
    const engine = socket.io.engine as unknown as { send(data: string): void };
    engine.send("2[unterminated");
    expect(await closed).toBeTruthy();
    await stillServing();
  });
});

describe("abuse limits", () => {
  test("each socket has an event budget: then RATE_LIMITED with retryAfter, then it is disconnected", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const socket = await connectAs(svc.wsUrl, svc, ann!);
    const answers = await Promise.all(Array.from({ length: EVENTS_PER_SOCKET + 5 }, () => call(socket, "ping", {})));
    expect(answers.filter((a) => a.ok)).toHaveLength(EVENTS_PER_SOCKET);
    const refused = answers.filter((a) => !a.ok);
    expect(refused).toHaveLength(5);
    expect(refused[0]).toMatchObject({ ok: false, error: { code: "RATE_LIMITED", details: { retryAfter: expect.any(Number) } } });

    // Another socket of the same user has a budget of its own.
    const other = await connectAs(svc.wsUrl, svc, ann!);
    expect((await call(other, "ping", {})).ok).toBe(true);

    const error = nextEvent(socket, "error", (e: any) => e.code === "RATE_LIMITED");
    const closed = closedWith(socket);
    for (let i = 0; i < EVENTS_PER_SOCKET * 2; i++) (socket as any).emit("ping", {});
    await error;
    expect(await closed).toBe("io server disconnect");
    expect((await call(other, "ping", {})).ok).toBe(true);
  });

  test("message sends have a budget per user shared by all their sockets", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const first = await connectAs(svc.url, svc, ann!);
    const second = await connectAs(svc.wsUrl, svc, ann!);
    const results = [];
    for (let i = 0; i < MESSAGES_PER_USER + 2; i++) results.push(await call(i % 2 ? second : first, "message:send", { conversationId, content: `m${i}` }));
    expect(results.filter((r) => r.ok)).toHaveLength(MESSAGES_PER_USER);
    expect(results.at(-1)).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    const stored = await (await svc.as(bob!)).get(`/api/conversations/${conversationId}/messages`);
    expect(stored.body.data).toHaveLength(MESSAGES_PER_USER);
  });

  test("typing changes and room joins have a budget per user", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const sockets = [await connectAs(svc.url, svc, ann!), await connectAs(svc.wsUrl, svc, ann!)];
    const typing = [];
    for (let i = 0; i < EVENTS_PER_SOCKET + 2; i++) typing.push(call(sockets[i % 2]!, "typing:start", { conversationId }));
    const typed = await Promise.all(typing);
    expect(typed.filter((r) => r.ok)).toHaveLength(EVENTS_PER_SOCKET);
    expect(typed.filter((r) => !r.ok).map((r) => !r.ok && r.error.code)).toEqual(["RATE_LIMITED", "RATE_LIMITED"]);

    const more = [await connectAs(svc.url, svc, ann!), await connectAs(svc.wsUrl, svc, ann!)];
    const joins = [];
    for (let i = 0; i < EVENTS_PER_SOCKET + 2; i++) joins.push(call(more[i % 2]!, "room:join", { conversationId }));
    const joined = await Promise.all(joins);
    expect(joined.filter((r) => r.ok)).toHaveLength(EVENTS_PER_SOCKET);
    expect(joined.filter((r) => !r.ok && r.error.code === "RATE_LIMITED")).toHaveLength(2);
  });
});
