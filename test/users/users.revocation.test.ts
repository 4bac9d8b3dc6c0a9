import { describe, expect, test } from "bun:test";
import { mintToken, serviceForTests } from "../helpers/service";
import { connectError, connectSocket, nextEvent } from "../helpers/sockets";

/** POST /api/users/:id/revoke-tokens: the host cuts a user's sessions (a stolen token, a logout everywhere). */
const svc = serviceForTests();

const now = () => Math.floor(Date.now() / 1000);
const revoke = (userId: string, body?: unknown) => svc.internal("POST", `/api/users/${userId}/revoke-tokens`, body);
const listWith = (token: string) => svc.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${token}` } });

describe("revoking a user's tokens", () => {
  test("tokens issued at or before the mark, and tokens without iat, are refused 401 UNAUTHORIZED; later ones work", async () => {
    await svc.syncUsers("rev-ann", "rev-bob");
    const mark = now() - 100;
    const tokens = {
      older: await mintToken("rev-ann", { issuedAt: mark - 50 }),
      atMark: await mintToken("rev-ann", { issuedAt: mark }),
      noIat: await mintToken("rev-ann", { issuedAt: null }),
      newer: await mintToken("rev-ann", { issuedAt: mark + 1 }),
    };
    const bob = await mintToken("rev-bob", { issuedAt: mark - 50 });
    for (const token of Object.values(tokens)) expect((await listWith(token)).status).toBe(200);

    const res = await revoke("rev-ann", { before: mark });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ userId: "rev-ann", revokedBefore: mark });

    for (const [name, token] of Object.entries({ older: tokens.older, atMark: tokens.atMark, noIat: tokens.noIat })) {
      const refused = await listWith(token);
      expect({ name, status: refused.status, code: refused.body.error?.code }).toEqual({ name, status: 401, code: "UNAUTHORIZED" });
    }
    expect((await listWith(tokens.newer)).status).toBe(200);
    // Another user's tokens are untouched.
    expect((await listWith(bob)).status).toBe(200);
  });

  test("without a body, the mark is now: every token issued so far stops working", async () => {
    await svc.syncUser("rev-cat");
    const token = await mintToken("rev-cat");
    const before = now();
    const res = await svc.internal("POST", "/api/users/rev-cat/revoke-tokens");
    expect(res.status).toBe(200);
    expect(res.body.revokedBefore).toBeGreaterThanOrEqual(before);
    expect(res.body.revokedBefore).toBeLessThanOrEqual(now());
    expect((await listWith(token)).status).toBe(401);
    expect((await listWith(await mintToken("rev-cat", { issuedAt: now() + 2 }))).status).toBe(200);
  });

  test("the mark only moves forward: an earlier `before` does not bring revoked tokens back", async () => {
    await svc.syncUser("rev-dan");
    const mark = now() - 10;
    const token = await mintToken("rev-dan", { issuedAt: mark - 5 });
    await revoke("rev-dan", { before: mark });
    const earlier = await revoke("rev-dan", { before: mark - 60 });
    expect(earlier.body).toEqual({ userId: "rev-dan", revokedBefore: mark });
    expect((await listWith(token)).status).toBe(401);
  });

  test("a socket handshake with a revoked token is refused UNAUTHORIZED", async () => {
    await svc.syncUser("rev-eve");
    const token = await mintToken("rev-eve", { issuedAt: now() - 5 });
    await revoke("rev-eve", { before: now() - 1 });
    const refused = await connectError(svc.wsUrl, token);
    expect(refused.data?.code).toBe("UNAUTHORIZED");
  });

  test("live sockets holding a revoked token get `error` UNAUTHORIZED and are disconnected; others stay", async () => {
    await svc.syncUser("rev-fay");
    const mark = now() - 10;
    const { socket: old } = await connectSocket(svc.wsUrl, await mintToken("rev-fay", { issuedAt: mark - 1 }));
    const { socket: fresh } = await connectSocket(svc.wsUrl, await mintToken("rev-fay", { issuedAt: mark + 1 }));
    const told = nextEvent(old, "error");
    const gone = new Promise<string>((resolve) => old.once("disconnect", resolve));
    await revoke("rev-fay", { before: mark });
    expect(await told).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await gone).toBe("io server disconnect");
    const pong = await fresh.timeout(2000).emitWithAck("ping", {});
    expect(pong.ok).toBe(true);
  });

  test("the internal secret is required; unknown, deleted and malformed users and bad marks are refused", async () => {
    await svc.syncUsers("rev-gus", "rev-hal");
    const gus = await svc.as("rev-gus");
    const asUser = await gus.post("/api/users/rev-gus/revoke-tokens", {});
    expect(asUser.status).toBe(401);
    expect((await revoke("rev-nobody", {})).status).toBe(404);
    await svc.internal("DELETE", "/api/users/rev-hal");
    expect((await revoke("rev-hal", {})).status).toBe(404);
    expect((await revoke("has%20space", {})).status).toBe(400);
    // A mark further ahead than a day would refuse the user's future tokens for good (it never moves back).
    const farAhead = Math.floor(Date.now() / 1000) + 2 * 86_400;
    for (const before of [-1, 1.5, "soon", null, farAhead, 99_999_999_999]) {
      const res = await revoke("rev-gus", { before });
      expect({ before, status: res.status, code: res.body.error?.code }).toEqual({ before, status: 400, code: "VALIDATION_ERROR" });
    }
    expect((await gus.get("/api/conversations")).status).toBe(200);
  });
});
