import { describe, expect, test } from "bun:test";
import { call, connectAs, group, makeUsers, ok } from "../helpers/realtime";
import { mintToken, serviceForTests } from "../helpers/service";
import { connectError, connectSocket, nextEvent } from "../helpers/sockets";

const ORIGIN = "https://app.example.com";
const svc = serviceForTests({ CORS_ORIGINS: `${ORIGIN},https://admin.example.com` });

describe("connecting", () => {
  for (const port of ["PORT", "WS_PORT"] as const) {
    for (const transport of ["websocket", "polling"] as const) {
      test(`on ${port} over ${transport}: connected lists the user's conversations, ping answers`, async () => {
        const [ann, bob] = await makeUsers(svc, "ann", "bob");
        const conversationId = await group(svc, ann!, [bob!]);
        const url = port === "PORT" ? svc.url : svc.wsUrl;
        const { socket, connected } = await connectSocket(url, await svc.token(ann!), { transports: [transport] });
        expect(connected).toMatchObject({ userId: ann, socketId: socket.id, rooms: [conversationId] });
        expect(connected.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(socket.io.engine.transport.name).toBe(transport);
        const pong = await ok(socket, "ping", {});
        expect(Date.parse(pong.timestamp)).toBeGreaterThan(Date.now() - 60_000);
        expect((await call(socket, "ping")).ok).toBe(true);
      });
    }
  }

  test("WS_PORT is a separate port from PORT", () => {
    expect(svc.wsUrl).not.toBe(svc.url);
  });

  test("a polling client upgrades to websocket", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const { socket } = await connectSocket(svc.url, await svc.token(ann!), { transports: ["polling", "websocket"] });
    if (socket.io.engine.transport.name !== "websocket") await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
    expect(socket.io.engine.transport.name).toBe("websocket");
    expect((await call(socket, "ping", {})).ok).toBe(true);
  });

  test("an Authorization: Bearer header is accepted instead of auth.token", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const token = await svc.token(ann!);
    for (const transport of ["websocket", "polling"]) {
      const { connected } = await connectSocket(svc.wsUrl, undefined, { transports: [transport], extraHeaders: { authorization: `Bearer ${token}` } });
      expect(connected.userId).toBe(ann!);
    }
  });

  test("CORS answers the configured origins only, on both ports", async () => {
    for (const base of [svc.url, svc.wsUrl]) {
      const allowed = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, { headers: { origin: ORIGIN } });
      expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
      expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
      await allowed.text();
      const preflight = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, {
        method: "OPTIONS",
        headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    }
  });

  test("another origin is refused with 403 and no session, over polling and websocket, on both ports", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const token = await svc.token(ann!);
    for (const base of [svc.url, svc.wsUrl]) {
      const other = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "https://evil.example.com" } });
      expect(other.status).toBe(403);
      expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example.com");
      expect(await other.text()).not.toContain("sid");
      for (const transport of ["websocket", "polling"]) {
        const refused = await connectError(base, token, { transports: [transport], extraHeaders: { origin: "https://evil.example.com" } });
        expect(refused.message).not.toBe("");
        const { connected } = await connectSocket(base, token, { transports: [transport], extraHeaders: { origin: ORIGIN } });
        expect(connected.userId).toBe(ann!);
      }
    }
  });
});

describe("handshake authentication", () => {
  const refused = async (token: string | undefined, opts = {}) => (await connectError(svc.wsUrl, token, opts)).data;

  test("no token, a malformed one, or one signed with another secret is UNAUTHORIZED", async () => {
    const [ann] = await makeUsers(svc, "ann");
    expect(await refused(undefined)).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await refused("not-a-jwt")).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await refused(await mintToken(ann!, { secret: "another-secret-0123456789abcdefghijklmn" }))).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await refused(await mintToken(ann!, { alg: "HS512" }))).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await refused(undefined, { extraHeaders: { authorization: "Basic abc" } })).toMatchObject({ code: "UNAUTHORIZED" });
  });

  test("an expired token is TOKEN_EXPIRED", async () => {
    const [ann] = await makeUsers(svc, "ann");
    const token = await mintToken(ann!, { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
    const data = await refused(token);
    expect(data).toMatchObject({ code: "TOKEN_EXPIRED" });
    expect(typeof (data as { message: string }).message).toBe("string");
  });

  test("a user never synced is USER_NOT_FOUND", async () => {
    expect(await refused(await mintToken("never-synced"))).toMatchObject({ code: "USER_NOT_FOUND" });
  });

  test("a socket lives as long as REST accepts its token: until exp plus the 30 s leeway, then TOKEN_EXPIRED", async () => {
    const [ann] = await makeUsers(svc, "ann");
    // Past exp already, about 5 s of leeway left: REST takes it, and so does the socket, until then.
    const exp = Math.floor(Date.now() / 1000) - 25;
    const token = await mintToken(ann!, { expiresIn: exp });
    expect((await svc.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const { socket } = await connectSocket(svc.wsUrl, token);
    const error = nextEvent(socket, "error", () => true, 15_000);
    const closed = new Promise<string>((resolve) => socket.once("disconnect", resolve));
    expect((await call(socket, "ping", {})).ok).toBe(true);
    expect(await error).toMatchObject({ code: "TOKEN_EXPIRED", message: expect.any(String), timestamp: expect.any(String) });
    expect(Date.now()).toBeGreaterThanOrEqual((exp + 30) * 1000 - 50);
    expect(await closed).toBe("io server disconnect");
    expect((await svc.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  test("deleting a user disconnects their sockets on both ports and refuses them afterwards", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    await group(svc, ann!, [bob!]);
    const token = await svc.token(ann!);
    const sockets = [(await connectSocket(svc.url, token)).socket, (await connectSocket(svc.wsUrl, token, { transports: ["polling"] })).socket];
    const errors = sockets.map((s) => nextEvent(s, "error"));
    const closed = sockets.map((s) => new Promise<string>((resolve) => s.once("disconnect", resolve)));
    const bobSocket = await connectAs(svc.url, svc, bob!);
    const removed = nextEvent(bobSocket, "participant:removed");

    expect((await svc.internal("DELETE", `/api/users/${ann}`)).status).toBe(204);
    for (const error of errors) expect(await error).toMatchObject({ code: "USER_NOT_FOUND" });
    for (const reason of closed) expect(await reason).toBe("io server disconnect");
    expect(await removed).toMatchObject({ userId: ann });
    expect(await refused(token)).toMatchObject({ code: "USER_NOT_FOUND" });

    // Synced again, the same id is a user again.
    await svc.syncUser(ann!);
    expect((await connectSocket(svc.wsUrl, await svc.token(ann!))).connected.rooms).toEqual([]);
  });
});
