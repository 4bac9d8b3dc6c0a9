import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { asc, eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { moderationHook } from "../../examples/host/moderation";
import { ConfigError, loadConfig } from "../../src/config";
import { conversations, messages, webhookEvents } from "../../src/core/db/schema";
import { call, connectAs, fence, group, makeUsers } from "../helpers/realtime";
import { serviceForTests, type TestService } from "../helpers/service";
import { type ClientSocket, record } from "../helpers/sockets";
import { scrape, total } from "../ops/prometheus";

const SECRET = "moderation-hook-test-secret-0123456789abcdef";

type HookRequest = { headers: Record<string, string>; body: string; payload: { id: string; type: string; timestamp: string; data: any } };
/** What the hook answers: a Response as is, anything else as JSON. */
type Behaviour = (request: HookRequest) => unknown;
const allow: Behaviour = () => ({ action: "allow" });

/**
 * The host's moderation endpoint: a real HTTP server that records each request and answers as the
 * test says (allow by default, so that the fences' messages go through). `/webhooks` takes the
 * service's ordinary webhooks.
 */
function startHook() {
  const waiters = new Map<string, () => void>();
  const hook = {
    port: 0,
    requests: [] as HookRequest[],
    behaviour: allow,
    url: () => `http://127.0.0.1:${hook.port}/hook`,
    webhookUrl: () => `http://127.0.0.1:${hook.port}/webhooks`,
    /** Resolves once the hook has been asked about a message whose content is `content`. */
    asked(content: string): Promise<void> {
      if (hook.requests.some((r) => r.payload.data.content === content)) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.set(content, resolve));
    },
    /** Requests about messages whose content contains `text`. */
    about: (text: string) => hook.requests.filter((r) => String(r.payload.data.content).includes(text)),
    pause() {
      server?.stop(true);
      server = undefined;
    },
    resume() {
      server ??= listen(hook.port);
    },
  };
  const listen = (port: number) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 60,
      async fetch(request) {
        if (new URL(request.url).pathname === "/webhooks") return new Response(null, { status: 204 });
        const body = await request.text();
        const recorded = { headers: Object.fromEntries(request.headers.entries()), body, payload: JSON.parse(body) };
        hook.requests.push(recorded);
        waiters.get(recorded.payload.data.content)?.();
        const answer = await hook.behaviour(recorded);
        return answer instanceof Response ? answer : Response.json(answer);
      },
    });
  let server: Server<undefined> | undefined = listen(0);
  hook.port = server.port!;
  afterAll(() => hook.pause());
  return hook;
}

/** Answers `verdict` for messages whose content contains `text`, allows the others. */
const answerFor = (text: string, verdict: unknown): Behaviour => (r) => (String(r.payload.data.content).includes(text) ? verdict : { action: "allow" });

const hook = startHook();
const svc = serviceForTests({
  MODERATION_HOOK_URL: hook.url(),
  MODERATION_HOOK_TIMEOUT_MS: "1000",
  WEBHOOK_SECRET: SECRET,
  WEBHOOK_URL: hook.webhookUrl(),
  MESSAGE_MAX_LENGTH: "100",
  RATE_LIMIT_MESSAGES: "1000",
});
afterEach(() => {
  hook.behaviour = allow;
});

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Ann and Bob in a group, Bob's socket listening; everything a test checks after a refusal. */
async function room(svc: TestService) {
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const conversationId = await group(svc, ann!, [bob!]);
  const annSocket = await connectAs(svc.wsUrl, svc, ann!);
  const bobSocket = await connectAs(svc.wsUrl, svc, bob!);
  const seenByBob = record(bobSocket, "message:new");
  const fenced = await fence(svc, [
    { userId: ann!, socket: annSocket },
    { userId: bob!, socket: bobSocket },
  ]);
  return { ann: await svc.as(ann!), bob: await svc.as(bob!), annSocket, bobSocket, conversationId, seenByBob, fence: fenced };
}

/** Nothing of `content` was stored: not listed, no seq used, no outbox row, no room event. */
async function expectNothingStored(svc: TestService, r: Awaited<ReturnType<typeof room>>, content: string, lastSeq: number) {
  const list = await r.ann.get(`/api/conversations/${r.conversationId}/messages?includeReplies=true`);
  expect(list.body.data.map((m: any) => m.content)).not.toContain(content);
  const [conversation] = await svc.app.ctx.db.select({ lastSeq: conversations.lastSeq }).from(conversations).where(eq(conversations.id, r.conversationId));
  expect(conversation!.lastSeq).toBe(lastSeq);
  const events = await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, "message.created"));
  expect(events.filter((e) => (e.payload.data as any).content === content)).toEqual([]);
  await r.fence.pass();
  expect(r.seenByBob.filter((m) => m.content === content)).toEqual([]);
}

const lastSeqOf = async (svc: TestService, conversationId: string) =>
  (await svc.app.ctx.db.select({ lastSeq: conversations.lastSeq }).from(conversations).where(eq(conversations.id, conversationId)))[0]!.lastSeq;

describe("MODERATION_HOOK_URL", () => {
  test("needs WEBHOOK_SECRET: the service refuses to start without it, saying so", () => {
    expect(() => loadConfig({ MODERATION_HOOK_URL: "http://127.0.0.1:9/hook" })).toThrow(ConfigError);
    expect(() => loadConfig({ MODERATION_HOOK_URL: "http://127.0.0.1:9/hook" })).toThrow(/WEBHOOK_SECRET/);
    expect(() => loadConfig({ MODERATION_HOOK_URL: "ftp://x", WEBHOOK_SECRET: SECRET })).toThrow(/http\(s\) URL/);
    expect(() => loadConfig({ MODERATION_HOOK_URL: "http://h/x", WEBHOOK_SECRET: SECRET, MODERATION_HOOK_TIMEOUT_MS: "600000" })).toThrow(/MODERATION_HOOK_TIMEOUT_MS/);
    expect(() => loadConfig({ MODERATION_HOOK_URL: "http://h/x", WEBHOOK_SECRET: SECRET, MODERATION_HOOK_FAILURE: "maybe" })).toThrow(/open, closed/);
    const production = { NODE_ENV: "production", AUTH_JWT_SECRET: SECRET, INTERNAL_API_SECRET: SECRET, MODERATION_HOOK_URL: "http://h/x" };
    expect(() => loadConfig({ ...production, WEBHOOK_SECRET: "short" })).toThrow(/WEBHOOK_SECRET is 5 bytes; production needs at least 32/);
    expect(loadConfig({ ...production, WEBHOOK_SECRET: SECRET }).WEBHOOK_SECRET).toEqual([SECRET]);
    const config = loadConfig({ MODERATION_HOOK_URL: "http://h/x", WEBHOOK_SECRET: SECRET });
    expect([config.MODERATION_HOOK_TIMEOUT_MS, config.MODERATION_HOOK_FAILURE]).toEqual([1500, "open"]);
  });
});

describe("allow", () => {
  test("the send is stored as sent; the hook saw it, signed as webhooks are", async () => {
    const r = await room(svc);
    const sent = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "allowed hello", metadata: { from: "web" }, mentions: [r.bob.userId] });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ content: "allowed hello", metadata: { from: "web" }, mentions: [r.bob.userId] });
    const [request] = hook.about("allowed hello");
    expect(request!.payload).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      type: "message.before_send",
      timestamp: expect.stringMatching(ISO_MS),
      data: {
        conversationId: r.conversationId,
        senderId: r.ann.userId,
        content: "allowed hello",
        attachments: [],
        metadata: { from: "web" },
        parentId: null,
        mentions: [r.bob.userId],
      },
    });
    expect(request!.headers["webhook-id"]).toBe(request!.payload.id);
    expect(request!.headers["x-webhook-event"]).toBe("message.before_send");
    const verifier = new Webhook(new TextEncoder().encode(SECRET), { format: "raw" });
    expect(verifier.verify(request!.body, request!.headers)).toMatchObject({ id: request!.payload.id });
    const forged = new Webhook(new TextEncoder().encode("another-secret-0123456789abcdefghijklmn"), { format: "raw" });
    expect(() => forged.verify(request!.body, request!.headers)).toThrow();
  });

  test("a thread reply shows the hook its parentId; a socket send is judged as REST's", async () => {
    const r = await room(svc);
    const parent = (await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "parent" })).body;
    const ack = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "socket reply", parentId: parent.id });
    expect(ack).toMatchObject({ ok: true, data: { content: "socket reply", parentId: parent.id } });
    expect(hook.about("socket reply")[0]!.payload.data.parentId).toBe(parent.id);
  });
});

describe("reject", () => {
  test("REST: 403 FORBIDDEN with details.reason; nothing stored, no seq used, no event, no webhook", async () => {
    const r = await room(svc);
    const lastSeq = await lastSeqOf(svc, r.conversationId);
    hook.behaviour = answerFor("buy pills", { action: "reject", reason: "spam" });
    const res = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "buy pills now" });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: "FORBIDDEN", details: { reason: "spam" } });
    await expectNothingStored(svc, r, "buy pills now", lastSeq);
    // The next send takes the next seq: none was used by the refused one.
    const next = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "fine" });
    expect(next.body.seq).toBe(lastSeq + 1);
  });

  test("socket: the ack carries FORBIDDEN and the reason; without a reason, details.reason is null", async () => {
    const r = await room(svc);
    const lastSeq = await lastSeqOf(svc, r.conversationId);
    hook.behaviour = answerFor("rude", { action: "reject", reason: "insult" });
    const ack = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "rude words" });
    expect(ack).toEqual({ ok: false, error: { code: "FORBIDDEN", message: expect.any(String), details: { reason: "insult" } } });
    await expectNothingStored(svc, r, "rude words", lastSeq);
    hook.behaviour = answerFor("rude", { action: "reject" });
    const bare = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "rude again" });
    expect(bare).toMatchObject({ ok: false, error: { code: "FORBIDDEN", details: { reason: null } } });
  });

  test("answers that are none of the three, or a modify the send's rules refuse, reject", async () => {
    const r = await room(svc);
    const lastSeq = await lastSeqOf(svc, r.conversationId);
    const answers: [string, unknown][] = [
      ["not json", new Response("yes please", { headers: { "content-type": "text/plain" } })],
      ["array", []],
      ["unknown action", { action: "approve" }],
      ["no action", { reason: "x" }],
      ["numeric reason", { action: "reject", reason: 42 }],
      ["content not a string", { action: "modify", content: 7 }],
      ["metadata an array", { action: "modify", metadata: [1] }],
      ["content too long", { action: "modify", content: "x".repeat(101) }],
      ["content empty", { action: "modify", content: "  " }],
      ["metadata too many keys", { action: "modify", metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }],
    ];
    for (const [label, answer] of answers) {
      hook.behaviour = answerFor(label, answer);
      const res = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: label });
      expect({ label, status: res.status, error: res.body.error?.code, details: res.body.error?.details }).toEqual({
        label,
        status: 403,
        error: "FORBIDDEN",
        details: { reason: null },
      });
    }
    expect(await lastSeqOf(svc, r.conversationId)).toBe(lastSeq);
  });
});

describe("modify", () => {
  test("content and metadata are stored as the hook changed them, and the room sees that", async () => {
    const r = await room(svc);
    hook.behaviour = answerFor("darn", { action: "modify", content: "**** it" });
    const seen = record(r.bobSocket, "message:new");
    const res = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "darn it", metadata: { keep: true } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ content: "**** it", metadata: { keep: true } });
    hook.behaviour = answerFor("tag me", { action: "modify", metadata: { flagged: "maybe" } });
    const ack = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "tag me", metadata: { mine: 1 } });
    expect(ack).toMatchObject({ ok: true, data: { content: "tag me", metadata: { flagged: "maybe" } } });
    await r.fence.pass();
    expect(seen.map((m) => [m.content, m.metadata])).toEqual([
      ["**** it", { keep: true }],
      ["tag me", { flagged: "maybe" }],
      [expect.stringMatching(/^fence/), {}],
    ]);
    const stored = (await r.bob.get(`/api/messages/${res.body.id}`)).body;
    expect(stored.content).toBe("**** it");
  });

  test("keys named like Object.prototype's members in a modify are dropped, as in request bodies", async () => {
    const r = await room(svc);
    hook.behaviour = answerFor("proto", { action: "modify", metadata: JSON.parse('{"__proto__":{"polluted":1},"constructor":{"x":1},"ok":1}') });
    const res = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "proto" });
    expect(res.status).toBe(201);
    expect(res.body.metadata).toEqual({ ok: 1 });
    expect(Object.keys((await r.bob.get(`/api/messages/${res.body.id}`)).body.metadata)).toEqual(["ok"]);
  });
});

describe("order of one sender's sends", () => {
  test("a send the hook rejects does not let the later ones overtake a slower earlier one", async () => {
    const r = await room(svc);
    hook.behaviour = (req) => {
      const content = String(req.payload.data.content);
      if (content.includes("slow")) return Bun.sleep(400).then(() => allow(req));
      return content.includes("rej") ? { action: "reject" } : allow(req);
    };
    const contents = ["ok-slow-1", "rej-2", "ok-3", "ok-4"];
    const acks = await Promise.all(contents.map((content) => call(r.annSocket, "message:send", { conversationId: r.conversationId, content })));
    expect(acks.map((a) => a.ok)).toEqual([true, false, true, true]);
    const list = await r.ann.get(`/api/conversations/${r.conversationId}/messages`);
    expect(list.body.data.map((m: any) => m.content).filter((c: string) => !c.startsWith("fence"))).toEqual(["ok-slow-1", "ok-3", "ok-4"]);
  });
});

describe("edits", () => {
  test("the hook judges an edit as message.before_update with its messageId; a rejected edit leaves the message as it was", async () => {
    const r = await room(svc);
    const message = (await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "first draft", metadata: { v: 1 } })).body;
    hook.behaviour = answerFor("nasty edit", { action: "reject", reason: "no" });
    const refused = await r.ann.patch(`/api/messages/${message.id}`, { content: "nasty edit" });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: "FORBIDDEN", details: { reason: "no" } });
    const [request] = hook.about("nasty edit");
    expect(request!.payload).toMatchObject({
      type: "message.before_update",
      data: { messageId: message.id, conversationId: r.conversationId, senderId: r.ann.userId, content: "nasty edit", attachments: [], metadata: { v: 1 }, parentId: null, mentions: [] },
    });
    expect((await r.ann.get(`/api/messages/${message.id}`)).body).toEqual(message);
    const ack = await call(r.annSocket, "message:edit", { messageId: message.id, content: "nasty edit again" });
    expect(ack).toMatchObject({ ok: false, error: { code: "FORBIDDEN", details: { reason: "no" } } });
    expect((await r.ann.get(`/api/messages/${message.id}`)).body).toEqual(message);
  });

  test("a modified edit is stored with the hook's content and metadata; an unchanged edit does not ask", async () => {
    const r = await room(svc);
    const message = (await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "original" })).body;
    hook.behaviour = answerFor("heck", { action: "modify", content: "h**k", metadata: { edited: "by hook" } });
    const edited = await r.ann.patch(`/api/messages/${message.id}`, { content: "heck" });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ content: "h**k", metadata: { edited: "by hook" }, isEdited: true });
    const asked = hook.requests.length;
    expect((await r.ann.patch(`/api/messages/${message.id}`, { content: "h**k" })).status).toBe(200);
    expect(hook.requests.length).toBe(asked);
  });
});

describe("edits in a row", () => {
  test("two edits of one message are stored in the order made, though the hook answers the later one first", async () => {
    const r = await room(svc);
    const message = (await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "v0" })).body;
    hook.behaviour = async (req) => {
      if (req.payload.data.content === "edit one") await Bun.sleep(400);
      return { action: "allow" };
    };
    const updates = record(r.bobSocket, "message:updated");
    const first = r.ann.patch(`/api/messages/${message.id}`, { content: "edit one" });
    await hook.asked("edit one");
    const second = await call(r.annSocket, "message:edit", { messageId: message.id, content: "edit two" });
    expect(second).toMatchObject({ ok: true, data: { content: "edit two" } });
    expect((await first).status).toBe(200);
    expect((await r.bob.get(`/api/messages/${message.id}`)).body.content).toBe("edit two");
    await r.fence.pass();
    expect(updates.map((u) => u.content)).toEqual(["edit one", "edit two"]);
  });
});

describe("idempotency and authorization come first", () => {
  test("a retry with a stored clientMessageId answers 200 with the stored message without asking the hook", async () => {
    const r = await room(svc);
    const first = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "once only", clientMessageId: "cm-1" });
    expect(first.status).toBe(201);
    expect(hook.about("once only").length).toBe(1);
    // Even when the hook would now reject it: the message is stored already.
    hook.behaviour = answerFor("once only", { action: "reject" });
    const again = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "once only", clientMessageId: "cm-1" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const ack = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "once only", clientMessageId: "cm-1" });
    expect(ack).toEqual({ ok: true, data: first.body });
    expect(hook.about("once only").length).toBe(1);
  });

  test("suspended, revoked and deleted callers never reach the hook, with or without a valid body", async () => {
    const r = await room(svc);
    const [sue] = await makeUsers(svc, "sue");
    await r.ann.post(`/api/conversations/${r.conversationId}/participants`, { userIds: [sue] });
    const token = await svc.token(sue!, { issuedAt: Math.floor(Date.now() / 1000) - 60 });
    const send = async (body: unknown) =>
      svc.request("POST", `/api/conversations/${r.conversationId}/messages`, { headers: { authorization: `Bearer ${token}` }, body });
    const refusals = async () => [(await send({ content: "sue note" })), (await send({ content: 5 }))].map((res) => [res.status, res.body.error.code]);
    expect((await svc.internal("POST", `/api/users/${sue}/suspend`, {})).status).toBe(200);
    expect(await refusals()).toEqual([[403, "FORBIDDEN"], [403, "FORBIDDEN"]]);
    expect((await svc.internal("POST", `/api/users/${sue}/unsuspend`, {})).status).toBe(200);
    expect((await svc.internal("POST", `/api/users/${sue}/revoke-tokens`, {})).status).toBe(200);
    expect(await refusals()).toEqual([[401, "UNAUTHORIZED"], [401, "UNAUTHORIZED"]]);
    expect(hook.about("sue note")).toEqual([]);
  });

  test("outsiders and blocked senders never reach the hook", async () => {
    const r = await room(svc);
    const [eve] = await makeUsers(svc, "eve");
    const outsider = await svc.as(eve!);
    expect((await outsider.post(`/api/conversations/${r.conversationId}/messages`, { content: "outsider note" })).status).toBe(404);
    const direct = (await r.ann.post("/api/conversations", { type: "direct", participantIds: [r.bob.userId] })).body.id;
    expect((await r.bob.put(`/api/me/blocks/${r.ann.userId}`)).status).toBe(204);
    expect((await r.ann.post(`/api/conversations/${direct}/messages`, { content: "blocked note" })).status).toBe(403);
    expect(hook.about("outsider note")).toEqual([]);
    expect(hook.about("blocked note")).toEqual([]);
  });
});

describe("a failing hook, MODERATION_HOOK_FAILURE=open (default)", () => {
  test("a non-2xx, a timeout and a hook that is down: the message is stored as sent", async () => {
    const r = await room(svc);
    hook.behaviour = answerFor("status 500", new Response("boom", { status: 500 }));
    const failed = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "status 500" });
    expect([failed.status, failed.body.content]).toEqual([201, "status 500"]);
    hook.behaviour = (req) => (String(req.payload.data.content).includes("slow hook") ? Bun.sleep(2500).then(() => ({ action: "reject" })) : allow(req));
    // The hook would reject it, too late: stored as sent.
    const slow = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "slow hook" });
    expect(slow).toMatchObject({ ok: true, data: { content: "slow hook" } });
    hook.pause();
    try {
      const down = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "hook down" });
      expect([down.status, down.body.content]).toEqual([201, "hook down"]);
    } finally {
      hook.resume();
    }
  });
});

describe("a failing hook, MODERATION_HOOK_FAILURE=closed", () => {
  const closed = serviceForTests({
    MODERATION_HOOK_URL: hook.url(),
    // Well above what a loaded machine takes to answer at once, well below the slow answer below.
    MODERATION_HOOK_TIMEOUT_MS: "1000",
    MODERATION_HOOK_FAILURE: "closed",
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_URL: hook.webhookUrl(),
  });

  test("a non-2xx, a timeout and a hook that is down: 503 UNAVAILABLE and nothing stored", async () => {
    const r = await room(closed);
    const lastSeq = await lastSeqOf(closed, r.conversationId);
    hook.behaviour = answerFor("closed 502", new Response("bad gateway", { status: 502 }));
    const failed = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "closed 502" });
    expect([failed.status, failed.body.error.code]).toEqual([503, "UNAVAILABLE"]);
    await expectNothingStored(closed, r, "closed 502", lastSeq);
    hook.behaviour = (req) => (String(req.payload.data.content).includes("closed slow") ? Bun.sleep(2500).then(() => allow(req)) : allow(req));
    const slow = await call(r.annSocket, "message:send", { conversationId: r.conversationId, content: "closed slow" });
    expect(slow).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    hook.pause();
    try {
      const down = await r.ann.post(`/api/conversations/${r.conversationId}/messages`, { content: "closed down" });
      expect([down.status, down.body.error.code]).toEqual([503, "UNAVAILABLE"]);
    } finally {
      hook.resume();
    }
    await expectNothingStored(closed, r, "closed slow", lastSeq);
  });
});

describe("many sends at once", () => {
  // No webhooks here: the test times the sends, not the outbox's drainer working beside them.
  const busy = serviceForTests({ MODERATION_HOOK_URL: hook.url(), WEBHOOK_SECRET: SECRET, RATE_LIMIT_MESSAGES: "1000" });

  /**
   * 20 senders in one group send 10 messages each, the first ten senders through their sockets
   * (emitted at once), the others over REST. Each REST request travels on a connection of its
   * own, so two of them have no order until the service has one in hand: a REST sender sends its
   * next message once the hook was asked about the previous one, without waiting for the answer.
   * Returns how long until every send was answered, after checking that each sender's messages
   * have seqs in the order sent.
   */
  async function burst(svc: TestService, round: string): Promise<number> {
    const senders = await makeUsers(svc, ...Array.from({ length: 20 }, (_, i) => `${round}${i}`));
    const [owner, ...others] = senders;
    const conversationId = await group(svc, owner!, others);
    const sockets: ClientSocket[] = await Promise.all(senders.slice(0, 10).map((id) => connectAs(svc.wsUrl, svc, id)));
    const clients = await Promise.all(senders.slice(10).map((id) => svc.as(id)));
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    sockets.forEach((socket, s) => {
      for (let i = 0; i < 10; i++) sends.push(call(socket, "message:send", { conversationId, content: `${senders[s]} ${i}` }).then((ack) => expect(ack.ok).toBe(true)));
    });
    const rest = clients.map(async (client) => {
      const mine: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        const content = `${client.userId} ${i}`;
        const asked = hook.asked(content);
        mine.push(client.post(`/api/conversations/${conversationId}/messages`, { content }).then((res) => expect(res.status).toBe(201)));
        await asked;
      }
      await Promise.all(mine);
    });
    await Promise.all([...sends, ...rest]);
    const elapsed = performance.now() - started;
    const stored = await svc.app.ctx.db
      .select({ seq: messages.seq, senderId: messages.senderId, content: messages.content })
      .from(messages)
      .where(eq(messages.conversationId, conversationId))
      .orderBy(asc(messages.seq));
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const sender of senders) {
      expect(stored.filter((m) => m.senderId === sender).map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `${sender} ${i}`));
    }
    for (const socket of sockets) socket.close();
    return elapsed;
  }

  test("200 sends of 20 senders with a 500 ms hook take about one hook latency more than with an instant one, each sender's stored in the order sent", async () => {
    // The cost of the sends themselves on this machine, the hook answering at once.
    const instant = await burst(busy, "i");
    // About 500 ms per answer: 900 ms for a sender's first send down to 180 ms for its tenth, so
    // that the answers come back in the reverse of the order sent: only the service's ordering
    // keeps each sender's seqs in that order.
    let inFlight = 0;
    let peak = 0;
    hook.behaviour = async (req) => {
      const match = /^\S+ (\d+)$/.exec(String(req.payload.data.content));
      peak = Math.max(peak, ++inFlight);
      if (match) await Bun.sleep(900 - 80 * Number(match[1]));
      inFlight--;
      return { action: "allow" };
    };
    const slow = await burst(busy, "s");
    // Hook calls overlap: one sender's would be at most 10 at a time, serialised sends one.
    expect(peak).toBeGreaterThan(100);
    // One sender's sends one after another would add 10 × 500 ms; all of them 200 × 500 ms.
    expect(slow - instant).toBeLessThan(2500);
  }, 60_000);
});

describe("the example host's hook (examples/host/moderation.ts)", () => {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: moderationHook(SECRET) });
  afterAll(() => server.stop(true));
  const hosted = serviceForTests({ MODERATION_HOOK_URL: `http://127.0.0.1:${server.port}/moderation/chat`, WEBHOOK_SECRET: SECRET });

  test("verifies the signature, masks words, rejects spam links and allows the rest", async () => {
    const [ann, bob] = await makeUsers(hosted, "ann", "bob");
    const conversationId = await group(hosted, ann!, [bob!]);
    const client = await hosted.as(ann!);
    const send = (content: string) => client.post(`/api/conversations/${conversationId}/messages`, { content });
    expect((await send("hello")).body.content).toBe("hello");
    expect((await send("oh heck, Darn it")).body.content).toBe("oh ****, **** it");
    const spam = await send("see https://spam.example/deal");
    expect([spam.status, spam.body.error.details]).toEqual([403, { reason: "links to spam.example are not allowed" }]);
  });
});

describe("metrics", () => {
  test("/metrics shows the hook's latency and every outcome", async () => {
    const m = await scrape(svc.url);
    expect(m.types.get("chat_moderation_hook_outcomes_total")).toBe("counter");
    expect(m.types.get("chat_moderation_hook_duration_seconds")).toBe("histogram");
    // The tests above met every outcome.
    for (const outcome of ["allow", "reject", "modify", "timeout", "error"]) {
      expect(total(m, "chat_moderation_hook_outcomes_total", { outcome }), outcome).toBeGreaterThan(0);
    }
    expect(total(m, "chat_moderation_hook_duration_seconds_count")).toBeGreaterThan(10);
  });
});
