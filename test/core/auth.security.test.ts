import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { INTERNAL_SECRET, JWT_SECRET, mintToken, serviceForTests, startService, type TestService } from "../helpers/service";
import { connectError, connectSocket } from "../helpers/sockets";

const svc = serviceForTests();
beforeAll(async () => {
  await svc.syncUsers("ann", "bob");
}, 60_000);

const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** A JWT assembled by hand, for the shapes jose refuses to sign. */
function handMadeToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature?: (input: string) => string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signature ? signature(input) : ""}`;
}
const hs256 = (secret: string) => (input: string) => createHmac("sha256", secret).update(input).digest("base64url");

async function listWith(authorization: string | undefined, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...extra };
  if (authorization !== undefined) headers.authorization = authorization;
  return svc.request("GET", "/api/conversations", { headers });
}

function expectRefused(res: { status: number; body: any }, code: string) {
  expect(res.status).toBe(401);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
}

describe("bearer tokens", () => {
  test("a valid HS256 token of a synced user is accepted", async () => {
    const res = await listWith(`Bearer ${await mintToken("ann")}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("the scheme is case-insensitive and surrounding spaces are tolerated", async () => {
    const token = await mintToken("ann");
    expect((await listWith(`bearer ${token}`)).status).toBe(200);
    expect((await listWith(`Bearer   ${token}  `)).status).toBe(200);
  });

  test("an expired token is TOKEN_EXPIRED, but up to 30 s of clock skew is forgiven", async () => {
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { expiresIn: now() - 45 })}`), "TOKEN_EXPIRED");
    expect((await listWith(`Bearer ${await mintToken("ann", { expiresIn: now() - 10 })}`)).status).toBe(200);
  });

  test("a token not valid yet (nbf in the future) is refused, within 30 s it is accepted", async () => {
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { notBefore: now() + 120 })}`), "UNAUTHORIZED");
    expect((await listWith(`Bearer ${await mintToken("ann", { notBefore: now() + 10 })}`)).status).toBe(200);
  });

  test("a token issued in the future (beyond 30 s of skew) is refused: no revocation could cover it", async () => {
    const issuedAt = (iat: number) => handMadeToken({ alg: "HS256", typ: "JWT" }, { sub: "ann", iat, exp: now() + 600 }, hs256(JWT_SECRET));
    expectRefused(await listWith(`Bearer ${issuedAt(now() + 120)}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${issuedAt(now() + 10 * 365 * 86_400)}`), "UNAUTHORIZED");
    const refused = await connectError(svc.wsUrl, issuedAt(now() + 120));
    expect(refused.data).toEqual({ code: "UNAUTHORIZED", message: expect.any(String) });
    expect((await listWith(`Bearer ${issuedAt(now() + 10)}`)).status).toBe(200);
  });

  test("a token without exp is accepted (the host decides its lifetime)", async () => {
    const token = handMadeToken({ alg: "HS256", typ: "JWT" }, { sub: "ann", iat: now() }, hs256(JWT_SECRET));
    expect((await listWith(`Bearer ${token}`)).status).toBe(200);
  });

  test("a token signed with another secret is refused", async () => {
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { secret: "another-secret-of-enough-length-0123456789" })}`), "UNAUTHORIZED");
    // The internal secret is not a signing key for user tokens either.
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { secret: INTERNAL_SECRET })}`), "UNAUTHORIZED");
  });

  test("only HS256 is accepted: alg none, HS384, HS512 and RS256-with-the-secret are refused", async () => {
    const payload = { sub: "ann", iat: now(), exp: now() + 600 };
    expectRefused(await listWith(`Bearer ${handMadeToken({ alg: "none", typ: "JWT" }, payload)}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${handMadeToken({ alg: "none", typ: "JWT" }, payload, () => "")}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { alg: "HS384" })}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${await mintToken("ann", { alg: "HS512" })}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${handMadeToken({ alg: "RS256", typ: "JWT" }, payload, hs256(JWT_SECRET))}`), "UNAUTHORIZED");
    // The same claims with HS256 are fine: the refusals above are about the algorithm.
    expect((await listWith(`Bearer ${handMadeToken({ alg: "HS256", typ: "JWT" }, payload, hs256(JWT_SECRET))}`)).status).toBe(200);
  });

  test("a token whose sub is missing or not an external id is UNAUTHORIZED; an unknown user is USER_NOT_FOUND", async () => {
    const signed = (payload: Record<string, unknown>) => handMadeToken({ alg: "HS256" }, { iat: now(), exp: now() + 600, ...payload }, hs256(JWT_SECRET));
    expectRefused(await listWith(`Bearer ${signed({})}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${signed({ sub: "has space" })}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${signed({ sub: 42 })}`), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${await mintToken("never-synced")}`), "USER_NOT_FOUND");
  });

  test("a tampered payload is refused", async () => {
    const [header, , signature] = (await mintToken("ann")).split(".");
    expectRefused(await listWith(`Bearer ${header}.${b64url({ sub: "bob", exp: now() + 600 })}.${signature}`), "UNAUTHORIZED");
  });
});

describe("the Authorization header", () => {
  test("missing, empty, another scheme or garbage is UNAUTHORIZED", async () => {
    const token = await mintToken("ann");
    for (const header of [undefined, "", "Bearer", "Bearer ", `Basic ${b64url("ann:pw")}`, `Token ${token}`, "Bearer not.a.jwt", "Bearer abc", `Bearer ${token} extra`, token]) {
      expectRefused(await listWith(header), "UNAUTHORIZED");
    }
  });

  test("every public endpoint asks for a token before looking at the request", async () => {
    const routes = apiRoutes().filter((r) => !r.internal);
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      // Well-formed ids, then malformed ones with a bad query and body: neither is looked at first.
      for (const path of [route.path(WELL_FORMED), `${route.path(MALFORMED)}?limit=0`]) {
        const res = await svc.request(route.method, path, { body: route.method === "GET" ? undefined : { nonsense: true } });
        expect({ path, method: route.method, status: res.status, code: res.body?.error?.code }).toEqual({ path, method: route.method, status: 401, code: "UNAUTHORIZED" });
      }
    }
  });
});

/** Values for each path parameter of the API. */
const WELL_FORMED: Record<string, string> = { id: "018f0000-0000-7000-8000-000000000000", userId: "bob", emoji: "x" };
const MALFORMED: Record<string, string> = { id: "not-a-uuid", userId: "has space", emoji: "%20" };

/** Every route of the API, as the service registered it: a new route is covered without being listed here. */
function apiRoutes() {
  return svc.app.http.routes
    .filter((r) => r.path.startsWith("/api/"))
    .map((r) => ({
      method: r.method,
      internal: ((r.hooks as { detail?: { tags?: string[] } }).detail?.tags ?? []).includes("internal"),
      path: (values: Record<string, string>) => r.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name] ?? "x")),
    }));
}

describe("the internal secret and user tokens never stand in for each other", () => {
  test("the internal secret does not act as a user, in either header", async () => {
    expectRefused(await listWith(undefined, { "x-internal-secret": INTERNAL_SECRET }), "UNAUTHORIZED");
    expectRefused(await listWith(`Bearer ${INTERNAL_SECRET}`), "UNAUTHORIZED");
    const created = await svc.request("POST", "/api/conversations", {
      body: { type: "direct", participantIds: ["bob"] },
      headers: { "x-internal-secret": INTERNAL_SECRET },
    });
    expectRefused(created, "UNAUTHORIZED");
  });

  test("a user token does not open the internal API, in either header", async () => {
    const token = await mintToken("ann");
    const attempts: Record<string, string>[] = [
      { authorization: `Bearer ${token}` },
      { "x-internal-secret": token },
      { "x-internal-secret": `Bearer ${token}` },
      { authorization: `Bearer ${INTERNAL_SECRET}` },
      { "x-internal-secret": INTERNAL_SECRET.slice(0, -1) },
      { "x-internal-secret": `${INTERNAL_SECRET}x` },
      { "x-internal-secret": "" },
    ];
    for (const headers of attempts) {
      expectRefused(await svc.request("GET", "/api/users/ann", { headers }), "UNAUTHORIZED");
      expectRefused(await svc.request("POST", "/api/users/sync", { body: { externalUserId: "mallory" }, headers }), "UNAUTHORIZED");
      expectRefused(await svc.request("DELETE", "/api/users/bob", { headers }), "UNAUTHORIZED");
    }
    // Nothing of the above happened: mallory does not exist and bob is still there.
    expect((await svc.internal("GET", "/api/users/mallory")).status).toBe(404);
    expect((await svc.internal("GET", "/api/users/bob")).status).toBe(200);
  });

  test("every internal endpoint refuses a user token, before looking at the request", async () => {
    const routes = apiRoutes().filter((r) => r.internal);
    expect(routes.length).toBeGreaterThan(5);
    const headers = { authorization: `Bearer ${await mintToken("ann")}` };
    for (const route of routes) {
      for (const path of [route.path(WELL_FORMED), `${route.path(MALFORMED)}?limit=0`]) {
        const res = await svc.request(route.method, path, { headers, body: route.method === "GET" ? undefined : { nonsense: true } });
        expect({ path, method: route.method, status: res.status, code: res.body?.error?.code }).toEqual({ path, method: route.method, status: 401, code: "UNAUTHORIZED" });
      }
    }
    expect((await svc.internal("GET", "/api/users/bob")).status).toBe(200);
  });

  test("the internal API checks the secret before validating the request", async () => {
    expectRefused(await svc.request("POST", "/api/users/sync", { body: { externalUserId: "bad id" } }), "UNAUTHORIZED");
    expectRefused(await svc.request("POST", "/api/users/sync/batch", { body: "{not json" }), "UNAUTHORIZED");
  });
});

describe("deleted users", () => {
  test("a deleted user's token is refused with USER_NOT_FOUND and works again after a re-sync", async () => {
    await svc.syncUser("cleo");
    const token = await mintToken("cleo");
    expect((await listWith(`Bearer ${token}`)).status).toBe(200);

    expect((await svc.internal("DELETE", "/api/users/cleo")).status).toBe(204);
    expectRefused(await listWith(`Bearer ${token}`), "USER_NOT_FOUND");

    await svc.syncUser("cleo");
    expect((await listWith(`Bearer ${token}`)).status).toBe(200);
  });
});

describe("issuer and audience", () => {
  let strict: TestService;
  beforeAll(async () => {
    strict = await startService({ AUTH_JWT_ISSUER: "https://host.example.com", AUTH_JWT_AUDIENCE: "chat" });
    await strict.syncUsers("ann");
  }, 60_000);
  afterAll(() => strict.stop(), 60_000);

  const list = async (token: string) => strict.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${token}` } });

  test("tokens must carry the configured iss and aud", async () => {
    expect((await list(await mintToken("ann", { issuer: "https://host.example.com", audience: "chat" }))).status).toBe(200);
    expect((await list(await mintToken("ann", { issuer: "https://host.example.com", audience: ["other", "chat"] as unknown as string }))).status).toBe(200);

    expectRefused(await list(await mintToken("ann")), "UNAUTHORIZED");
    expectRefused(await list(await mintToken("ann", { audience: "chat" })), "UNAUTHORIZED");
    expectRefused(await list(await mintToken("ann", { issuer: "https://host.example.com" })), "UNAUTHORIZED");
    expectRefused(await list(await mintToken("ann", { issuer: "https://evil.example.com", audience: "chat" })), "UNAUTHORIZED");
    expectRefused(await list(await mintToken("ann", { issuer: "https://host.example.com", audience: "chat-admin" })), "UNAUTHORIZED");
  });

  test("without the settings, iss and aud are not checked", async () => {
    expect((await listWith(`Bearer ${await mintToken("ann", { issuer: "anyone", audience: "anything" })}`)).status).toBe(200);
  });
});

describe("rotating AUTH_JWT_SECRET", () => {
  const NEXT_SECRET = "next-jwt-secret-0123456789abcdefghijklmn";
  let rotating: TestService;
  beforeAll(async () => {
    rotating = await startService({ AUTH_JWT_SECRET: `${JWT_SECRET} ${NEXT_SECRET}` });
    await rotating.syncUsers("ann");
  }, 60_000);
  afterAll(() => rotating.stop(), 60_000);

  const list = async (token: string) => rotating.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${token}` } });

  test("tokens signed with either secret are accepted, over REST and sockets; any other secret is refused", async () => {
    for (const secret of [JWT_SECRET, NEXT_SECRET]) {
      const token = await mintToken("ann", { secret });
      expect((await list(token)).status).toBe(200);
      const { connected } = await connectSocket(rotating.wsUrl, token);
      expect(connected.userId).toBe("ann");
    }
    expectRefused(await list(await mintToken("ann", { secret: "some-other-secret-0123456789abcdefghij" })), "UNAUTHORIZED");
    expect((await connectError(rotating.wsUrl, await mintToken("ann", { secret: "some-other-secret-0123456789abcdefghij" }))).data?.code).toBe("UNAUTHORIZED");
  });

  test("a token whose signature matches the second secret still has its claims checked", async () => {
    expectRefused(await list(await mintToken("ann", { secret: NEXT_SECRET, expiresIn: now() - 120 })), "TOKEN_EXPIRED");
    expectRefused(await list(await mintToken("ghost", { secret: NEXT_SECRET })), "USER_NOT_FOUND");
  });
});

describe("a request whose body is still arriving", () => {
  /** Sends the headers and half the body, runs `meanwhile`, then the rest; answers the status. */
  async function slowBody(method: string, path: string, token: string, body: string, meanwhile: () => Promise<unknown>): Promise<number> {
    const { hostname, port } = new URL(svc.url);
    let answer = "";
    let answered: () => void = () => {};
    const done = new Promise<void>((resolve) => (answered = resolve));
    const socket = await Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        data(_s, chunk) {
          answer += chunk.toString();
          if (answer.includes("\r\n\r\n")) answered();
        },
        close() {
          answered();
        },
      },
    });
    const bytes = Buffer.from(body);
    const half = Math.floor(bytes.length / 2);
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`);
    socket.write(bytes.subarray(0, half));
    await Bun.sleep(100);
    await meanwhile();
    socket.write(bytes.subarray(half));
    await done;
    socket.end();
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  }

  test("is refused when its user was suspended or its token revoked meanwhile, and changes nothing", async () => {
    await svc.syncUsers("sly", "pal");
    const sly = await svc.as("sly");
    const conversationId = (await sly.post("/api/conversations", { type: "group", participantIds: ["pal"] })).body.id;
    const messageId = (await sly.post(`/api/conversations/${conversationId}/messages`, { content: "hi" })).body.id;
    const token = await svc.token("sly", { issuedAt: now() - 60 });
    const writes: [string, string, string][] = [
      ["POST", `/api/messages/${messageId}/reactions`, JSON.stringify({ emoji: "👍" })],
      ["PATCH", `/api/messages/${messageId}`, JSON.stringify({ content: "changed" })],
      ["POST", `/api/conversations/${conversationId}/messages`, JSON.stringify({ content: "late" })],
    ];
    for (const [method, path, body] of writes) {
      expect(await slowBody(method, path, token, body, () => svc.internal("POST", "/api/users/sly/suspend", {}))).toBe(403);
      expect((await svc.internal("POST", "/api/users/sly/unsuspend", {})).status).toBe(200);
    }
    expect(await slowBody("POST", `/api/messages/${messageId}/reactions`, token, JSON.stringify({ emoji: "🎉" }), () => svc.internal("POST", "/api/users/sly/revoke-tokens", {}))).toBe(401);
    const message = (await (await svc.as("pal")).get(`/api/messages/${messageId}`)).body;
    expect([message.content, message.reactions]).toEqual(["hi", []]);
    const page = (await (await svc.as("pal")).get(`/api/conversations/${conversationId}/messages`)).body;
    expect(page.data.map((m: { content: string }) => m.content)).toEqual(["hi"]);
  });
});
