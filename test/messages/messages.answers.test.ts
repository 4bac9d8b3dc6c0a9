import { beforeAll, describe, expect, test } from "bun:test";
import { type ApiClient, serviceForTests } from "../helpers/service";

/**
 * A page of messages is built by PostgreSQL in one statement and answered as the JSON text it
 * wrote, and sends are serialized without the response schema's walk (src/messages/page.ts,
 * jsonResponse): each of their messages must read as GET /api/messages/:id (schema-checked) shows
 * it, whatever it holds: the same values under the same keys in the same order (a send's answer
 * byte for byte).
 */
const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, cal: ApiClient;
let conversationId: string;
let first: string, deleted: string;

const raw = async (client: ApiClient, method: string, path: string, body?: unknown) => {
  const res = await fetch(svc.url + path, {
    method,
    headers: { authorization: `Bearer ${client.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
};
const single = async (id: string) => (await raw(ann, "GET", `/api/messages/${id}`)).text;

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cal");
  [ann, bob, cal] = [await svc.as("ann"), await svc.as("bob"), await svc.as("cal")];
  conversationId = (await ann.post("/api/conversations", { type: "group", name: "g", participantIds: ["bob", "cal"] })).body.id;
  const send = async (client: ApiClient, body: unknown) => (await client.post(`/api/conversations/${conversationId}/messages`, body)).body.id as string;
  first = await send(ann, {
    content: 'héllo "q" \\ \n\t \u0001 😀 </script>',
    metadata: { z: 1.5, a: [1, 2.0, 1e21, -0.000001], nested: { k: null, t: true }, "": "empty key" },
    attachments: [{ url: "https://example.com/y.png", size: 10, width: 5, duration: 1.25, name: "n" }],
    clientMessageId: "c1",
  });
  const second = await send(bob, { content: "second @cal", mentions: ["cal"], replyTo: first });
  await send(cal, { content: "a reply", parentId: first });
  deleted = await send(cal, { content: "to delete", mentions: ["ann"] });
  await ann.post(`/api/messages/${first}/reactions`, { emoji: "👍" });
  await bob.post(`/api/messages/${first}/reactions`, { emoji: "🎉" });
  await cal.post(`/api/messages/${first}/reactions`, { emoji: "👍" });
  await cal.post(`/api/messages/${deleted}/reactions`, { emoji: "👍" });
  await cal.delete(`/api/messages/${deleted}`);
  await bob.patch(`/api/messages/${second}`, { content: "edited" });
  await ann.post(`/api/messages/${second}/pin`);
  for (let i = 0; i < 3; i++) await send(ann, { content: `filler ${i}` });
}, 60_000);

describe("answers serialized without the schema walk", () => {
  test("every page's messages read as GET /api/messages/:id shows them; the page's own keys as before", async () => {
    for (const query of ["", "?limit=2", "?includeReplies=true", `?after=${first}&limit=2`, `?before=${deleted}`]) {
      const res = await raw(ann, "GET", `/api/conversations/${conversationId}/messages${query}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json;charset=utf-8");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      const page = JSON.parse(res.text);
      expect(Object.keys(page)).toEqual(["data", "hasMore", "nextCursor"]);
      const messages = await Promise.all(page.data.map(async (m: { id: string }) => JSON.parse(await single(m.id))));
      // The same values, each key in the same place (the database writes the text: its spacing,
      // and its spelling of numbers, differ; a JSON reader sees no difference).
      expect(page.data).toEqual(messages);
      page.data.forEach((m: object, i: number) => expect(Object.keys(m)).toEqual(Object.keys(messages[i])));
      expect(JSON.stringify(page.data)).toBe(JSON.stringify(messages));
    }
  });

  test("a send's answer, 201 and then 200 for its retry, reads as GET /api/messages/:id shows it", async () => {
    const body = { content: "sent", clientMessageId: "c9", metadata: { x: 2.5 } };
    const created = await raw(ann, "POST", `/api/conversations/${conversationId}/messages`, body);
    const retried = await raw(ann, "POST", `/api/conversations/${conversationId}/messages`, body);
    expect([created.status, retried.status]).toEqual([201, 200]);
    const stored = await single(JSON.parse(created.text).id);
    expect(created.text).toBe(stored);
    expect(retried.text).toBe(stored);
    expect(created.headers.get("content-type")).toBe("application/json;charset=utf-8");
  });

  test("outsiders still get the contract's 404, in its format", async () => {
    await svc.syncUsers("eve");
    const eve = await svc.as("eve");
    const res = await eve.get(`/api/conversations/${conversationId}/messages`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });
});

describe("the page reads its caller's user in its own statement", () => {
  const pagePaths = () => [`/api/conversations/${conversationId}/messages`, `/api/conversations/${conversationId}/messages?before=${deleted}`];
  const get = async (token: string | undefined, path: string, headers: Record<string, string> = {}) =>
    svc.request("GET", path, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  test("no token, a bad one, an expired one, or the internal secret alone: 401 as on every route", async () => {
    const expired = await svc.token("ann", { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    for (const path of pagePaths()) {
      expect((await get(undefined, path)).body.error.code).toBe("UNAUTHORIZED");
      expect((await get("not.a.token", path)).body.error.code).toBe("UNAUTHORIZED");
      const late = await get(expired, path);
      expect([late.status, late.body.error.code]).toEqual([401, "TOKEN_EXPIRED"]);
      const internal = await svc.request("GET", path, { headers: { "x-internal-secret": svc.config.INTERNAL_API_SECRET } });
      expect([internal.status, internal.body.error.code]).toEqual([401, "UNAUTHORIZED"]);
    }
  });

  test("a suspended caller is 403 until unsuspended; revoked tokens are 401; a deleted user 401 USER_NOT_FOUND", async () => {
    await svc.syncUsers("sam");
    await ann.post(`/api/conversations/${conversationId}/participants`, { userIds: ["sam"] });
    const sam = await svc.token("sam", { issuedAt: Math.floor(Date.now() / 1000) - 60 });
    for (const path of pagePaths()) expect((await get(sam, path)).status).toBe(200);

    expect((await svc.internal("POST", "/api/users/sam/suspend", {})).status).toBe(200);
    for (const path of pagePaths()) {
      const res = await get(sam, path);
      expect([res.status, res.body.error.code]).toEqual([403, "FORBIDDEN"]);
    }
    expect((await svc.internal("POST", "/api/users/sam/unsuspend", {})).status).toBe(200);
    for (const path of pagePaths()) expect((await get(sam, path)).status).toBe(200);

    expect((await svc.internal("POST", "/api/users/sam/revoke-tokens", {})).status).toBe(200);
    for (const path of pagePaths()) {
      const res = await get(sam, path);
      expect([res.status, res.body.error.code]).toEqual([401, "UNAUTHORIZED"]);
    }
    const fresh = await svc.token("sam", { issuedAt: Math.floor(Date.now() / 1000) + 1 });
    expect((await get(fresh, pagePaths()[0]!)).status).toBe(200);

    expect((await svc.internal("DELETE", "/api/users/sam")).status).toBeLessThan(300);
    for (const path of pagePaths()) {
      const res = await get(fresh, path);
      expect([res.status, res.body.error.code]).toEqual([401, "USER_NOT_FOUND"]);
    }
  });

  test("the caller is judged before the query: a suspended, revoked or deleted caller's bad query is 403 / 401, as on every route", async () => {
    await svc.syncUsers("sue");
    await ann.post(`/api/conversations/${conversationId}/participants`, { userIds: ["sue"] });
    const sue = await svc.token("sue", { issuedAt: Math.floor(Date.now() / 1000) - 60 });
    const bad = [
      `/api/conversations/zzz/messages`,
      `/api/conversations/${conversationId}/messages?limit=0`,
      `/api/conversations/${conversationId}/messages?before=zzz`,
      `/api/conversations/${conversationId}/messages?before=${deleted}&after=${deleted}`,
    ];
    const answers = async (token: string) => Promise.all(bad.map(async (path) => { const res = await get(token, path); return [res.status, res.body.error.code]; }));
    expect(await answers(sue)).toEqual(bad.map(() => [400, "VALIDATION_ERROR"]));

    expect((await svc.internal("POST", "/api/users/sue/suspend", {})).status).toBe(200);
    expect(await answers(sue)).toEqual(bad.map(() => [403, "FORBIDDEN"]));
    expect((await svc.internal("POST", "/api/users/sue/unsuspend", {})).status).toBe(200);

    expect((await svc.internal("POST", "/api/users/sue/revoke-tokens", {})).status).toBe(200);
    expect(await answers(sue)).toEqual(bad.map(() => [401, "UNAUTHORIZED"]));

    const fresh = await svc.token("sue", { issuedAt: Math.floor(Date.now() / 1000) + 1 });
    expect((await svc.internal("DELETE", "/api/users/sue")).status).toBeLessThan(300);
    expect(await answers(fresh)).toEqual(bad.map(() => [401, "USER_NOT_FOUND"]));
  });
});

describe("the send statement reads its caller's user itself", () => {
  const path = () => `/api/conversations/${conversationId}/messages`;
  const post = async (token: string | undefined, body: string | undefined, to = path()) =>
    svc.request("POST", to, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" }, body });
  const stored = async () => (await ann.get(`/api/conversations/${conversationId}/messages?limit=100&includeReplies=true`)).body.data.length as number;

  test("no token, a bad one, an expired one, or the internal secret alone: 401 before the body is read", async () => {
    const expired = await svc.token("ann", { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    const before = await stored();
    for (const body of [JSON.stringify({ content: "x" }), "{not json", JSON.stringify({ content: 5 })]) {
      expect((await post(undefined, body)).body.error.code).toBe("UNAUTHORIZED");
      expect((await post("not.a.token", body)).body.error.code).toBe("UNAUTHORIZED");
      const late = await post(expired, body);
      expect([late.status, late.body.error.code]).toEqual([401, "TOKEN_EXPIRED"]);
      const internal = await svc.request("POST", path(), { headers: { "x-internal-secret": svc.config.INTERNAL_API_SECRET, "content-type": "application/json" }, body });
      expect([internal.status, internal.body.error.code]).toEqual([401, "UNAUTHORIZED"]);
    }
    expect(await stored()).toBe(before);
  });

  test("a suspended, revoked or deleted caller is refused before anything else, and nothing is stored", async () => {
    await svc.syncUsers("sid");
    await ann.post(`/api/conversations/${conversationId}/participants`, { userIds: ["sid"] });
    const sid = await svc.token("sid", { issuedAt: Math.floor(Date.now() / 1000) - 60 });
    const sends: [string | undefined, string][] = [
      [JSON.stringify({ content: "fine" }), path()],
      ["{not json", path()],
      [JSON.stringify({ content: 5 }), path()],
      [JSON.stringify({ content: "x".repeat(svc.config.MESSAGE_MAX_LENGTH + 1) }), path()],
      [JSON.stringify({ content: "hi", parentId: "00000000-0000-4000-8000-000000000000" }), path()],
      [JSON.stringify({ content: "to a stranger" }), "/api/conversations/00000000-0000-4000-8000-000000000000/messages"],
      [JSON.stringify({ content: "bad id" }), "/api/conversations/zzz/messages"],
    ];
    const answers = async (token: string) =>
      Promise.all(sends.map(async ([body, to]) => { const res = await post(token, body, to); return [res.status, res.body.error?.code]; }));
    expect(await answers(sid)).toEqual([[201, undefined], [400, "VALIDATION_ERROR"], [400, "VALIDATION_ERROR"], [400, "VALIDATION_ERROR"], [400, "VALIDATION_ERROR"], [404, "NOT_FOUND"], [400, "VALIDATION_ERROR"]]);
    const before = await stored();

    expect((await svc.internal("POST", "/api/users/sid/suspend", {})).status).toBe(200);
    expect(await answers(sid)).toEqual(sends.map(() => [403, "FORBIDDEN"]));
    expect((await svc.internal("POST", "/api/users/sid/unsuspend", {})).status).toBe(200);

    // A suspension that has ended is none.
    expect((await svc.internal("POST", "/api/users/sid/suspend", { until: new Date(Date.now() + 600).toISOString() })).status).toBe(200);
    expect((await post(sid, JSON.stringify({ content: "still suspended" }))).status).toBe(403);
    await Bun.sleep(700);
    expect((await post(sid, JSON.stringify({ content: "back" }))).status).toBe(201);

    expect((await svc.internal("POST", "/api/users/sid/revoke-tokens", {})).status).toBe(200);
    expect(await answers(sid)).toEqual(sends.map(() => [401, "UNAUTHORIZED"]));
    const noIat = await svc.token("sid", { issuedAt: null });
    expect((await post(noIat, JSON.stringify({ content: "no iat" }))).status).toBe(401);

    const fresh = await svc.token("sid", { issuedAt: Math.floor(Date.now() / 1000) + 1 });
    expect((await post(fresh, JSON.stringify({ content: "fresh" }))).status).toBe(201);
    expect((await svc.internal("DELETE", "/api/users/sid")).status).toBeLessThan(300);
    expect(await answers(fresh)).toEqual(sends.map(() => [401, "USER_NOT_FOUND"]));
    expect(await stored()).toBe(before + 2);
  });

  test("an iat with a fraction (a NumericDate may have one) is judged as authentication judges it", async () => {
    await svc.syncUsers("fay");
    await ann.post(`/api/conversations/${conversationId}/participants`, { userIds: ["fay"] });
    const now = Date.now() / 1000;
    const at = (iat: number) => svc.token("fay", { issuedAt: null, claims: { iat } });
    const send = async (token: string, content: string) => (await post(token, JSON.stringify({ content, clientMessageId: content }))).status;
    const early = await at(now - 60.5);
    expect(await send(early, "fraction")).toBe(201);
    expect(await send(early, "fraction")).toBe(200);
    expect(await send(await at(1e-7), "tiny")).toBe(201);
    const { revokedBefore } = (await svc.internal("POST", "/api/users/fay/revoke-tokens", {})).body;
    expect(await send(await at(revokedBefore - 0.5), "just before")).toBe(401);
    expect(await send(await at(revokedBefore + 0.4), "just after")).toBe(201);
  });
});
