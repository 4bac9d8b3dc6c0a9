/** Suspension: the host shuts a user out of everything until a time or until lifted; nothing of theirs is lost. */
import { describe, expect, test } from "bun:test";
import { connectAs, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { connectError, nextEvent } from "../helpers/sockets";

const svc = serviceForTests();

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

async function withConversation() {
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const a = await svc.as(ann!);
  const id: string = (await a.post("/api/conversations", { type: "group", participantIds: [bob], name: "s" })).body.id;
  expect((await a.post(`/api/conversations/${id}/messages`, { content: "before" })).status).toBe(201);
  return { ann: ann!, bob: bob!, a, id };
}

describe("suspension", () => {
  test("refuses every call and connect, ends live sockets, and keeps memberships and messages until lifted", async () => {
    const { ann, bob, a, id } = await withConversation();
    const s1 = await connectAs(svc.url, svc, ann);
    const s2 = await connectAs(svc.wsUrl, svc, ann);
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const told = [s1, s2].map((s) => nextEvent(s, "error", (e) => e.code === "FORBIDDEN"));
    const ended = [s1, s2].map((s) => new Promise<string>((resolve) => s.once("disconnect", resolve)));

    const res = await svc.internal("POST", `/api/users/${ann}/suspend`, { reason: "abuse" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ externalUserId: ann, suspended: true, suspendedUntil: null });
    expect(Object.keys(res.body)).not.toContain("reason");
    for (const event of await Promise.all(told)) expect(event).toMatchObject({ code: "FORBIDDEN", message: expect.any(String) });
    expect(await Promise.all(ended)).toEqual(["io server disconnect", "io server disconnect"]);
    expect(sBob.connected).toBe(true);

    expectError(await a.get("/api/conversations"), 403, "FORBIDDEN");
    expectError(await a.post(`/api/conversations/${id}/messages`, { content: "still here?" }), 403, "FORBIDDEN");
    expectError(await (await svc.as(ann)).get(`/api/users/${bob}/presence`), 403, "FORBIDDEN");
    expect((await connectError(svc.wsUrl, await svc.token(ann))).data?.code).toBe("FORBIDDEN");
    expect((await svc.internal("GET", `/api/users/${ann}`)).body).toMatchObject({ suspended: true, suspendedUntil: null });

    // Others carry on with them still in the conversation.
    const b = await svc.as(bob);
    expect((await b.get(`/api/conversations/${id}`)).body.participants.map((p: any) => p.userId).sort()).toEqual([ann, bob].sort());
    expect((await b.post(`/api/conversations/${id}/messages`, { content: "while away" })).status).toBe(201);

    const lifted = await svc.internal("POST", `/api/users/${ann}/unsuspend`);
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ externalUserId: ann, suspended: false, suspendedUntil: null });
    const history = await a.get(`/api/conversations/${id}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.data.map((m: any) => m.content)).toEqual(["before", "while away"]);
    const again = await connectAs(svc.wsUrl, svc, ann);
    expect(again.connected).toBe(true);
    expect((await svc.internal("POST", `/api/users/${ann}/unsuspend`)).status).toBe(200);
  });

  test("a suspension with an end lifts itself then", async () => {
    const { ann, a } = await withConversation();
    const until = new Date(Date.now() + 800).toISOString();
    const res = await svc.internal("POST", `/api/users/${ann}/suspend`, { until });
    expect(res.body).toMatchObject({ suspended: true, suspendedUntil: until });
    expectError(await a.get("/api/conversations"), 403, "FORBIDDEN");
    await Bun.sleep(Date.parse(until) - Date.now() + 50);
    expect((await a.get("/api/conversations")).status).toBe(200);
    expect((await svc.internal("GET", `/api/users/${ann}`)).body).toMatchObject({ suspended: false, suspendedUntil: null });
    expect((await connectAs(svc.wsUrl, svc, ann)).connected).toBe(true);
  });

  test("suspending again replaces the end; bad input and users change nothing", async () => {
    const { ann, bob, a } = await withConversation();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await svc.internal("POST", `/api/users/${ann}/suspend`, { until: new Date(Date.now() + 60_000).toISOString() })).status).toBe(200);
    expect((await svc.internal("POST", `/api/users/${ann}/suspend`, { until: later })).body.suspendedUntil).toBe(later);
    expect((await svc.internal("POST", `/api/users/${ann}/suspend`)).body).toMatchObject({ suspended: true, suspendedUntil: null });
    expect((await svc.internal("POST", `/api/users/${ann}/unsuspend`)).status).toBe(200);

    expectError(await svc.internal("POST", `/api/users/${ann}/suspend`, { until: new Date(Date.now() - 1000).toISOString() }), 400, "VALIDATION_ERROR");
    expectError(await svc.internal("POST", `/api/users/${ann}/suspend`, { until: "later" }), 400, "VALIDATION_ERROR");
    expectError(await svc.internal("POST", `/api/users/${ann}/suspend`, { until: "2099-02-31T00:00:00Z" }), 400, "VALIDATION_ERROR");
    expectError(await svc.internal("POST", `/api/users/${ann}/suspend`, { reason: "x".repeat(501) }), 400, "VALIDATION_ERROR");
    expectError(await svc.internal("POST", "/api/users/nobody-synced-this/suspend", {}), 404, "NOT_FOUND");
    expectError(await svc.internal("POST", "/api/users/nobody-synced-this/unsuspend"), 404, "NOT_FOUND");
    // A user's token never opens the internal API, their own suspension included.
    expectError(await svc.request("POST", `/api/users/${bob}/suspend`, { body: {}, headers: { authorization: `Bearer ${await svc.token(ann)}` } }), 401, "UNAUTHORIZED");
    expect((await a.get("/api/conversations")).status).toBe(200);
    expect((await svc.internal("GET", `/api/users/${bob}`)).body.suspended).toBe(false);
  });

  test("a revoked token is still refused as revoked, a suspended user's valid one as forbidden", async () => {
    const [cat] = await makeUsers(svc, "cat");
    const old = await svc.token(cat!, { issuedAt: Math.floor(Date.now() / 1000) - 10 });
    expect((await svc.internal("POST", `/api/users/${cat}/revoke-tokens`, { before: Math.floor(Date.now() / 1000) - 5 })).status).toBe(200);
    expect((await svc.internal("POST", `/api/users/${cat}/suspend`)).status).toBe(200);
    expectError(await svc.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${old}` } }), 401, "UNAUTHORIZED");
    expectError(await (await svc.as(cat!)).get("/api/conversations"), 403, "FORBIDDEN");
  });
});
