/**
 * The authorization matrix: every route of the route table and every event a socket handles,
 * tried by a caller in every role (see ROLES), against the expectations below. The routes and
 * events come from the service itself; a route or event missing from the tables fails the test,
 * so each one is classified the day it is added.
 *
 * A new role (banned, blocked, suspended) is a step in rolesFixture and a line in `expectedFor`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { ROLES, type Role, type RolesFixture, rolesFixture } from "../helpers/roles";
import { allRoutes, isInternal, routeKey, socketEvents } from "../helpers/routes";
import { INTERNAL_SECRET, sendRequest, serviceForTests, type TestService } from "../helpers/service";
import { type ClientSocket, connectError, connectSocket } from "../helpers/sockets";
import { startReceiver, WHSEC_SECRET } from "../webhooks/receiver";

/**
 * Who a route is for. `conversation`: participants only, everyone else 404 (no existence leak).
 * `user`: any authenticated user. `internal`: the host's X-Internal-Secret only. `anonymous`:
 * no credentials (probes, docs). `socket`: the Socket.IO endpoint, covered by the event table.
 */
type Access = "conversation" | "user" | "internal" | "anonymous" | "socket";
type Expected = { status: number; code?: string };
type Call = { path: string; body?: unknown };
type RouteRule = {
  access: Access;
  /** The request every role makes, built from a fresh fixture: one that succeeds for allowed roles. */
  call?: (fx: RolesFixture, svc: TestService) => Call | Promise<Call>;
  /** Status of a success. */
  ok?: number;
  /** Participants whose role is not enough, with what they get (403 FORBIDDEN unless stated). */
  refused?: ("member" | "admin")[];
};

const conv = (fx: RolesFixture) => `/api/conversations/${fx.conversationId}`;
const msg = (fx: RolesFixture) => `/api/messages/${fx.messageId}`;
const firstEventId = async (_: RolesFixture, svc: TestService) => {
  const events = await svc.internal("GET", "/api/webhooks/events?limit=1");
  return events.body.data[0].id as string;
};

const ROUTES: Record<string, RouteRule> = {
  "GET /health": { access: "anonymous" },
  "GET /ready": { access: "anonymous" },
  "GET /metrics": { access: "anonymous" },
  "GET /openapi.json": { access: "anonymous" },
  "GET /docs": { access: "anonymous" },
  "ALL /socket.io": { access: "socket" },

  "POST /api/users/sync": { access: "internal", call: (fx) => ({ path: "/api/users/sync", body: { externalUserId: fx.users.newcomer } }) },
  "POST /api/users/sync/batch": { access: "internal", call: (fx) => ({ path: "/api/users/sync/batch", body: { users: [{ externalUserId: fx.users.newcomer }] } }) },
  "GET /api/users/:userId": { access: "internal", call: (fx) => ({ path: `/api/users/${fx.users.target}` }) },
  "GET /api/users/:userId/export": { access: "internal", call: (fx) => ({ path: `/api/users/${fx.users.target}/export` }) },
  "POST /api/users/:userId/revoke-tokens": { access: "internal", call: (fx) => ({ path: `/api/users/${fx.users.target}/revoke-tokens`, body: {} }) },
  "POST /api/users/:userId/suspend": { access: "internal", call: (fx) => ({ path: `/api/users/${fx.users.target}/suspend`, body: {} }) },
  "POST /api/users/:userId/unsuspend": { access: "internal", call: (fx) => ({ path: `/api/users/${fx.users.target}/unsuspend` }) },
  "DELETE /api/users/:userId": { access: "internal", ok: 204, call: (fx) => ({ path: `/api/users/${fx.users.target}` }) },
  "GET /api/webhooks/events": { access: "internal", call: () => ({ path: "/api/webhooks/events" }) },
  "POST /api/webhooks/events/redeliver-dead": { access: "internal", call: () => ({ path: "/api/webhooks/events/redeliver-dead", body: {} }) },
  "POST /api/webhooks/events/purge": { access: "internal", call: () => ({ path: "/api/webhooks/events/purge", body: {} }) },
  "GET /api/webhooks/events/:id": { access: "internal", call: async (fx, svc) => ({ path: `/api/webhooks/events/${await firstEventId(fx, svc)}` }) },
  "POST /api/webhooks/events/:id/redeliver": {
    access: "internal",
    call: async (fx, svc) => ({ path: `/api/webhooks/events/${await firstEventId(fx, svc)}/redeliver`, body: {} }),
  },

  "POST /api/conversations": { access: "user", ok: 201, call: (fx) => ({ path: "/api/conversations", body: { type: "group", participantIds: [fx.users.target] } }) },
  "GET /api/conversations": { access: "user", call: () => ({ path: "/api/conversations" }) },
  "GET /api/conversations/:id": { access: "conversation", call: (fx) => ({ path: conv(fx) }) },
  "PATCH /api/conversations/:id": { access: "conversation", refused: ["member"], call: (fx) => ({ path: conv(fx), body: { name: "renamed" } }) },
  "DELETE /api/conversations/:id": { access: "conversation", ok: 204, refused: ["member"], call: (fx) => ({ path: conv(fx) }) },
  "POST /api/conversations/:id/participants": {
    access: "conversation",
    refused: ["member"],
    call: (fx) => ({ path: `${conv(fx)}/participants`, body: { userIds: [fx.users.newcomer] } }),
  },
  "PATCH /api/conversations/:id/participants/:userId": {
    access: "conversation",
    refused: ["member"],
    call: (fx) => ({ path: `${conv(fx)}/participants/${fx.users.target}`, body: { role: "admin" } }),
  },
  "DELETE /api/conversations/:id/participants/:userId": {
    access: "conversation",
    ok: 204,
    refused: ["member"],
    call: (fx) => ({ path: `${conv(fx)}/participants/${fx.users.target}` }),
  },
  "POST /api/conversations/:id/messages": { access: "conversation", ok: 201, call: (fx) => ({ path: `${conv(fx)}/messages`, body: { content: "hi" } }) },
  "GET /api/conversations/:id/messages": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/messages` }) },
  // Searches the caller's own conversations only: anyone may ask, nobody sees another's.
  "GET /api/search/messages": { access: "user", call: () => ({ path: "/api/search/messages?q=hello" }) },
  "GET /api/messages/:id": { access: "conversation", call: (fx) => ({ path: msg(fx) }) },
  "GET /api/messages/:id/replies": { access: "conversation", call: (fx) => ({ path: `${msg(fx)}/replies` }) },
  // The fixture's message is the owner's: only its sender edits it; owners and admins delete it.
  "PATCH /api/messages/:id": { access: "conversation", refused: ["member", "admin"], call: (fx) => ({ path: msg(fx), body: { content: "edited" } }) },
  "DELETE /api/messages/:id": { access: "conversation", ok: 204, refused: ["member"], call: (fx) => ({ path: msg(fx) }) },
  // Pins: either side of a direct conversation; in a group (the fixture's) owners and admins.
  "POST /api/messages/:id/pin": { access: "conversation", refused: ["member"], call: (fx) => ({ path: `${msg(fx)}/pin` }) },
  "DELETE /api/messages/:id/pin": { access: "conversation", ok: 204, refused: ["member"], call: (fx) => ({ path: `${msg(fx)}/pin` }) },
  "GET /api/conversations/:id/pins": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/pins` }) },
  "POST /api/messages/:id/flag": { access: "conversation", ok: 201, call: (fx) => ({ path: `${msg(fx)}/flag`, body: { reason: "spam" } }) },
  "GET /api/flags": { access: "internal", call: () => ({ path: "/api/flags" }) },
  "POST /api/messages/:id/reactions": { access: "conversation", ok: 201, call: (fx) => ({ path: `${msg(fx)}/reactions`, body: { emoji: "👍" } }) },
  "DELETE /api/messages/:id/reactions/:emoji": { access: "conversation", call: (fx) => ({ path: `${msg(fx)}/reactions/${encodeURIComponent("👍")}` }) },
  "GET /api/messages/:id/reactions": { access: "conversation", call: (fx) => ({ path: `${msg(fx)}/reactions` }) },
  "PUT /api/messages/:id/read": { access: "conversation", call: (fx) => ({ path: `${msg(fx)}/read` }) },
  "GET /api/messages/:id/read": { access: "conversation", call: (fx) => ({ path: `${msg(fx)}/read` }) },
  "PUT /api/conversations/:id/read": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/read`, body: {} }) },
  "GET /api/conversations/:id/unread-count": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/unread-count` }) },
  "PUT /api/conversations/:id/unread": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/unread`, body: { messageId: fx.messageId } }) },
  "GET /api/me/unread": { access: "user", call: () => ({ path: "/api/me/unread" }) },
  "GET /api/users/:userId/presence": { access: "user", call: (fx) => ({ path: `/api/users/${fx.users.target}/presence` }) },
  "GET /api/conversations/:id/presence": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/presence` }) },
  "POST /api/presence/batch": { access: "user", call: (fx) => ({ path: "/api/presence/batch", body: { userIds: [fx.users.target] } }) },
  "PUT /api/conversations/:id/mute": { access: "conversation", call: (fx) => ({ path: `${conv(fx)}/mute`, body: {} }) },
  "DELETE /api/conversations/:id/mute": { access: "conversation", ok: 204, call: (fx) => ({ path: `${conv(fx)}/mute` }) },
  "POST /api/conversations/:id/bans": {
    access: "conversation",
    ok: 201,
    refused: ["member"],
    call: (fx) => ({ path: `${conv(fx)}/bans`, body: { userId: fx.users.target } }),
  },
  "GET /api/conversations/:id/bans": { access: "conversation", refused: ["member"], call: (fx) => ({ path: `${conv(fx)}/bans` }) },
  "DELETE /api/conversations/:id/bans/:userId": {
    access: "conversation",
    ok: 204,
    refused: ["member"],
    call: (fx) => ({ path: `${conv(fx)}/bans/${fx.users.target}` }),
  },
  "GET /api/me/blocks": { access: "user", call: () => ({ path: "/api/me/blocks" }) },
  "PUT /api/me/blocks/:userId": { access: "user", ok: 204, call: (fx) => ({ path: `/api/me/blocks/${fx.users.target}` }) },
  "DELETE /api/me/blocks/:userId": { access: "user", ok: 204, call: (fx) => ({ path: `/api/me/blocks/${fx.users.target}` }) },
};

type EventRule = {
  access: "conversation" | "user";
  payload: (fx: RolesFixture) => unknown;
  refused?: ("member" | "admin")[];
  /** Changes the fixture for the callers after it (each such caller gets a fresh one). */
  changes?: true;
};
const inConversation = (fx: RolesFixture) => ({ conversationId: fx.conversationId });
const EVENTS: Record<string, EventRule> = {
  ping: { access: "user", payload: () => ({}) },
  "activity:ping": { access: "user", payload: () => ({}) },
  // Leaving a room one is not in changes nothing and reveals nothing.
  "room:leave": { access: "user", payload: inConversation },
  "room:join": { access: "conversation", payload: inConversation },
  "message:send": { access: "conversation", payload: (fx) => ({ ...inConversation(fx), content: "hi" }) },
  "message:edit": { access: "conversation", refused: ["member", "admin"], changes: true, payload: (fx) => ({ messageId: fx.messageId, content: "edited" }) },
  "message:delete": { access: "conversation", refused: ["member"], changes: true, payload: (fx) => ({ messageId: fx.messageId }) },
  "messages:sync": { access: "conversation", payload: inConversation },
  "thread:replies": { access: "conversation", payload: (fx) => ({ parentId: fx.messageId }) },
  "message:pin": { access: "conversation", refused: ["member"], payload: (fx) => ({ messageId: fx.messageId }) },
  "message:unpin": { access: "conversation", refused: ["member"], payload: (fx) => ({ messageId: fx.messageId }) },
  "pins:list": { access: "conversation", payload: inConversation },
  "message:flag": { access: "conversation", payload: (fx) => ({ messageId: fx.messageId }) },
  "reaction:add": { access: "conversation", payload: (fx) => ({ messageId: fx.messageId, emoji: "👍" }) },
  "reaction:remove": { access: "conversation", payload: (fx) => ({ messageId: fx.messageId, emoji: "👍" }) },
  "message:read": { access: "conversation", payload: (fx) => ({ messageId: fx.messageId }) },
  "conversation:read": { access: "conversation", payload: inConversation },
  "conversation:unread": { access: "conversation", payload: (fx) => ({ ...inConversation(fx), messageId: fx.messageId }) },
  "unread:get": { access: "user", payload: () => ({}) },
  "typing:start": { access: "conversation", payload: inConversation },
  "typing:stop": { access: "conversation", payload: inConversation },
  "recording:start": { access: "conversation", payload: inConversation },
  "recording:stop": { access: "conversation", payload: inConversation },
  "presence:get": { access: "conversation", payload: inConversation },
};

/** Who calls: a user in one of the roles, or the host with its internal secret. */
type Caller = Role | "internal";
const CALLERS: Caller[] = [...ROLES, "internal"];

/** What a caller gets from a route or event of the given access: the matrix's rules in one place. */
function expectedFor(caller: Caller, access: Exclude<Access, "anonymous" | "socket">, ok: number, refused: string[] = []): Expected {
  if (access === "internal") return caller === "internal" ? { status: ok } : { status: 401, code: "UNAUTHORIZED" };
  if (caller === "internal") return { status: 401, code: "UNAUTHORIZED" };
  if (caller === "deleted") return { status: 401, code: "USER_NOT_FOUND" };
  if (caller === "revoked") return { status: 401, code: "UNAUTHORIZED" };
  if (caller === "suspended") return { status: 403, code: "FORBIDDEN" };
  if (caller === "outsider" || caller === "removed" || caller === "banned") return access === "conversation" ? { status: 404, code: "NOT_FOUND" } : { status: ok };
  return refused.includes(caller) ? { status: 403, code: "FORBIDDEN" } : { status: ok };
}

const webhooks = startReceiver(WHSEC_SECRET);
afterAll(() => webhooks.stop());
const svc = serviceForTests({ WEBHOOK_URL: webhooks.url, WEBHOOK_SECRET: WHSEC_SECRET });

const headersOf = (caller: Caller, fx: RolesFixture): Record<string, string> =>
  caller === "internal" ? { "x-internal-secret": INTERNAL_SECRET } : { authorization: `Bearer ${fx.tokens[caller]}` };
const seen = (res: { status: number; body: any }): Expected => (res.body?.error?.code ? { status: res.status, code: res.body.error.code } : { status: res.status });

describe("authorization matrix", () => {
  test("every route of the route table is classified", () => {
    const unclassified = allRoutes(svc).map(routeKey).filter((key) => !(key in ROUTES));
    expect(unclassified).toEqual([]);
    const gone = Object.keys(ROUTES).filter((key) => !allRoutes(svc).some((r) => routeKey(r) === key));
    expect(gone).toEqual([]);
  });

  test("every route × every caller gets what its role allows", async () => {
    // Cells that change nothing share one fixture; a call that may succeed and change it gets its own.
    const shared = await rolesFixture(svc);
    const mismatches: string[] = [];
    for (const route of allRoutes(svc)) {
      const key = routeKey(route);
      const rule = ROUTES[key];
      if (!rule || rule.access === "socket") continue;
      if (rule.access === "anonymous") {
        const res = await sendRequest(svc.url, route.method, route.path);
        if (res.status !== 200) mismatches.push(`${key} without credentials: ${res.status}`);
        continue;
      }
      for (const caller of CALLERS) {
        const expected = expectedFor(caller, rule.access, rule.ok ?? 200, rule.refused);
        const changes = route.method !== "GET" && (expected.status < 300 || expected.status === 403);
        const fx = changes ? await rolesFixture(svc) : shared;
        const call = await rule.call!(fx, svc);
        const res = await sendRequest(svc.url, route.method, call.path, { body: call.body, headers: headersOf(caller, fx) });
        const got = seen(res);
        if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${key} as ${caller}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      }
    }
    expect(mismatches).toEqual([]);
  }, 300_000);

  test("the internal secret never opens a socket", async () => {
    const refused = await connectError(svc.wsUrl, undefined, { extraHeaders: { "x-internal-secret": INTERNAL_SECRET } });
    expect(refused.data?.code).toBe("UNAUTHORIZED");
  });

  test("every socket event × every role gets what its role allows", async () => {
    const shared = await rolesFixture(svc);
    await connectSocket(svc.wsUrl, shared.tokens.owner);
    const events = [...socketEvents(svc).keys()];
    expect(events.filter((event) => !(event in EVENTS))).toEqual([]);
    expect(Object.keys(EVENTS).filter((event) => !events.includes(event))).toEqual([]);

    const mismatches: string[] = [];
    for (const event of events) {
      const rule = EVENTS[event]!;
      for (const role of ROLES) {
        const expected = expectedFor(role, rule.access, 200, rule.refused);
        const fx = rule.changes && (expected.status === 200 || expected.status === 403) ? await rolesFixture(svc) : shared;
        const got = await emitAs(fx, role, event, rule.payload(fx));
        if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${event} as ${role}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      }
    }
    expect(mismatches).toEqual([]);
  }, 300_000);
});

/** An event's outcome in the REST terms above: the ack's error code as its status, or 200; a refused handshake as 401 (403 when FORBIDDEN). */
async function emitAs(fx: RolesFixture, role: Role, event: string, payload: unknown): Promise<Expected> {
  let socket: ClientSocket;
  try {
    ({ socket } = await connectSocket(svc.wsUrl, fx.tokens[role]));
  } catch (error) {
    const code = (error as { data?: { code?: string } }).data?.code;
    return { status: code === "FORBIDDEN" ? 403 : 401, code: code ?? String(error) };
  }
  try {
    const answer = await (socket.timeout(5000) as unknown as { emitWithAck(e: string, p: unknown): Promise<any> }).emitWithAck(event, payload);
    if (answer.ok) return { status: 200 };
    const status = { NOT_FOUND: 404, FORBIDDEN: 403, UNAUTHORIZED: 401, USER_NOT_FOUND: 401 }[answer.error.code as string] ?? 0;
    return { status, code: answer.error.code };
  } finally {
    socket.close();
  }
}
