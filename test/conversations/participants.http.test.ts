import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../src/core/db/client";
import { type ApiClient, serviceForTests } from "../helpers/service";

/**
 * Who may change a group's membership. Every test builds its own group:
 * owner "own", admin "adm", members "mem" and "mia"; "out" is in no conversation.
 */
const svc = serviceForTests();
const clients: Record<string, ApiClient> = {};
const as = (id: string) => clients[id]!;

beforeAll(async () => {
  const ids = ["own", "adm", "mem", "mia", "out", "new1", "new2", "co"];
  await svc.syncUsers(...ids);
  for (const id of ids) clients[id] = await svc.as(id);
}, 60_000);

type Conversation = { id: string; participants: { userId: string; role: string; lastReadSeq: number }[] };

async function team(): Promise<Conversation> {
  const created = await as("own").post("/api/conversations", { type: "group", participantIds: ["adm", "mem", "mia"], name: "Team" });
  expect(created.status).toBe(201);
  const promoted = await as("own").patch(`/api/conversations/${created.body.id}/participants/adm`, { role: "admin" });
  expect(promoted.status).toBe(200);
  return (await as("own").get(`/api/conversations/${created.body.id}`)).body;
}

const rolesOfAs = async (viewer: string, id: string) => {
  const conversation = (await as(viewer).get(`/api/conversations/${id}`)).body as Conversation;
  return Object.fromEntries(conversation.participants.map((p) => [p.userId, p.role]));
};
const rolesOf = (id: string) => rolesOfAs("own", id);

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

describe("adding participants", () => {
  test("the owner adds users: 200 with the conversation, they join as members and see it", async () => {
    const { id } = await team();
    const res = await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new1", "new2"] });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(id);
    expect(await rolesOf(id)).toEqual({ own: "owner", adm: "admin", mem: "member", mia: "member", new1: "member", new2: "member" });
    expect((await as("new1").get(`/api/conversations/${id}`)).status).toBe(200);
  });

  test("an admin adds users, with a role up to admin; only an owner adds an owner", async () => {
    const { id } = await team();
    expect((await as("adm").post(`/api/conversations/${id}/participants`, { userIds: ["new1"], role: "admin" })).status).toBe(200);
    expectError(await as("adm").post(`/api/conversations/${id}/participants`, { userIds: ["new2"], role: "owner" }), 403, "FORBIDDEN");
    expect((await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new2"], role: "owner" })).status).toBe(200);
    expect(await rolesOf(id)).toMatchObject({ new1: "admin", new2: "owner" });
  });

  test("a member may not add (403), an outsider does not see the group (404); nothing changes", async () => {
    const { id } = await team();
    expectError(await as("mem").post(`/api/conversations/${id}/participants`, { userIds: ["new1"] }), 403, "FORBIDDEN");
    expectError(await as("out").post(`/api/conversations/${id}/participants`, { userIds: ["out"] }), 404, "NOT_FOUND");
    // Permission comes before looking up the users: a member learns nothing about unknown ids.
    expectError(await as("mem").post(`/api/conversations/${id}/participants`, { userIds: ["nobody"] }), 403, "FORBIDDEN");
    expect(Object.keys(await rolesOf(id)).sort()).toEqual(["adm", "mem", "mia", "own"]);
  });

  test("users already in the group are left as they are", async () => {
    const { id } = await team();
    const res = await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["adm", "mem", "new1"], role: "member" });
    expect(res.status).toBe(200);
    expect(await rolesOf(id)).toMatchObject({ adm: "admin", mem: "member", new1: "member" });
  });

  test("an unknown or deleted user is 404 naming them, and nobody is added", async () => {
    const { id } = await team();
    const res = await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new1", "ghost"] });
    expectError(res, 404, "NOT_FOUND");
    expect(res.body.error.details).toEqual({ userIds: ["ghost"] });
    expect(Object.keys(await rolesOf(id))).not.toContain("new1");
  });

  test("a direct conversation takes no more participants (409)", async () => {
    const direct = (await as("own").post("/api/conversations", { type: "direct", participantIds: ["mem"] })).body;
    expectError(await as("own").post(`/api/conversations/${direct.id}/participants`, { userIds: ["new1"] }), 409, "CONFLICT");
    expect(direct.participants).toHaveLength(2);
    expect((await as("own").get(`/api/conversations/${direct.id}`)).body.participants).toHaveLength(2);
  });

  test("someone added later sees the history but none of it counts as unread", async () => {
    const { id } = await team();
    for (const content of ["one", "two", "three"]) await as("mem").post(`/api/conversations/${id}/messages`, { content });
    await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new1"] });
    const seen = (await as("new1").get(`/api/conversations/${id}`)).body;
    expect(seen.unreadCount).toBe(0);
    expect(seen.participants.find((p: { userId: string }) => p.userId === "new1").lastReadSeq).toBe(3);
    expect((await as("new1").get(`/api/conversations/${id}/messages`)).body.data).toHaveLength(3);
    await as("mem").post(`/api/conversations/${id}/messages`, { content: "four" });
    expect((await as("new1").get(`/api/conversations/${id}/unread-count`)).body).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 0, lastReadSeq: 3 });
  });

  test("invalid bodies and ids are 400", async () => {
    const { id } = await team();
    for (const body of [{}, { userIds: [] }, { userIds: ["bad id"] }, { userIds: ["new1"], role: "king" }, { userIds: "new1" }]) {
      expectError(await as("own").post(`/api/conversations/${id}/participants`, body), 400, "VALIDATION_ERROR");
    }
    expectError(await as("own").post("/api/conversations/not-a-uuid/participants", { userIds: ["new1"] }), 400, "VALIDATION_ERROR");
    expect(Object.keys(await rolesOf(id)).sort()).toEqual(["adm", "mem", "mia", "own"]);
  });
});

describe("changing roles", () => {
  test("the owner promotes and demotes: 200 with the participant", async () => {
    const { id } = await team();
    const res = await as("own").patch(`/api/conversations/${id}/participants/mem`, { role: "admin" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ userId: "mem", role: "admin", joinedAt: expect.any(String), lastReadSeq: 0 });
    expect((await as("own").patch(`/api/conversations/${id}/participants/mem`, { role: "member" })).body.role).toBe("member");
    // Asking for the role someone already has is a no-op answered the same way.
    expect((await as("own").patch(`/api/conversations/${id}/participants/mem`, { role: "member" })).status).toBe(200);
  });

  test("an admin promotes members to admin but cannot grant or take away owner (403)", async () => {
    const { id } = await team();
    expect((await as("adm").patch(`/api/conversations/${id}/participants/mem`, { role: "admin" })).status).toBe(200);
    expectError(await as("adm").patch(`/api/conversations/${id}/participants/mia`, { role: "owner" }), 403, "FORBIDDEN");
    expectError(await as("adm").patch(`/api/conversations/${id}/participants/adm`, { role: "owner" }), 403, "FORBIDDEN");
    await as("own").patch(`/api/conversations/${id}/participants/co`, { role: "owner" }).then((r) => expect(r.status).toBe(404));
    await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["co"], role: "owner" });
    expectError(await as("adm").patch(`/api/conversations/${id}/participants/co`, { role: "member" }), 403, "FORBIDDEN");
    expect(await rolesOf(id)).toMatchObject({ mem: "admin", mia: "member", adm: "admin", co: "owner" });
  });

  test("a member may not change roles (403); an outsider gets 404", async () => {
    const { id } = await team();
    expectError(await as("mem").patch(`/api/conversations/${id}/participants/mem`, { role: "admin" }), 403, "FORBIDDEN");
    expectError(await as("mem").patch(`/api/conversations/${id}/participants/mia`, { role: "admin" }), 403, "FORBIDDEN");
    expectError(await as("out").patch(`/api/conversations/${id}/participants/mem`, { role: "admin" }), 404, "NOT_FOUND");
    expect(await rolesOf(id)).toMatchObject({ mem: "member", mia: "member" });
  });

  test("the last owner cannot be demoted (409), whoever asks; with a second owner it can", async () => {
    const { id } = await team();
    expectError(await as("own").patch(`/api/conversations/${id}/participants/own`, { role: "admin" }), 409, "CONFLICT");
    expectError(await as("adm").patch(`/api/conversations/${id}/participants/own`, { role: "member" }), 409, "CONFLICT");
    expect((await as("own").patch(`/api/conversations/${id}/participants/adm`, { role: "owner" })).status).toBe(200);
    expect((await as("adm").patch(`/api/conversations/${id}/participants/own`, { role: "member" })).status).toBe(200);
    expect(await rolesOf(id)).toMatchObject({ own: "member", adm: "owner" });
    expectError(await as("adm").patch(`/api/conversations/${id}/participants/adm`, { role: "admin" }), 409, "CONFLICT");
  });

  test("unknown participants, direct conversations and bad bodies", async () => {
    const { id } = await team();
    expectError(await as("own").patch(`/api/conversations/${id}/participants/out`, { role: "admin" }), 404, "NOT_FOUND");
    expectError(await as("own").patch(`/api/conversations/${id}/participants/bad%20id`, { role: "admin" }), 400, "VALIDATION_ERROR");
    expectError(await as("own").patch(`/api/conversations/${id}/participants/mem`, { role: "king" }), 400, "VALIDATION_ERROR");
    expectError(await as("own").patch(`/api/conversations/${id}/participants/mem`, {}), 400, "VALIDATION_ERROR");
    const direct = (await as("own").post("/api/conversations", { type: "direct", participantIds: ["mia"] })).body;
    expectError(await as("own").patch(`/api/conversations/${direct.id}/participants/mia`, { role: "admin" }), 409, "CONFLICT");
  });
});

describe("removing participants and leaving", () => {
  test("the owner removes a member: 204, and the member no longer sees the group", async () => {
    const { id } = await team();
    const message = (await as("mem").post(`/api/conversations/${id}/messages`, { content: "before I go" })).body;
    const res = await as("own").delete(`/api/conversations/${id}/participants/mem`);
    expect(res.status).toBe(204);
    expect(Object.keys(await rolesOf(id))).not.toContain("mem");
    expectError(await as("mem").get(`/api/conversations/${id}`), 404, "NOT_FOUND");
    expectError(await as("mem").get(`/api/messages/${message.id}`), 404, "NOT_FOUND");
    expectError(await as("mem").post(`/api/conversations/${id}/messages`, { content: "still here?" }), 404, "NOT_FOUND");
    // Their messages stay for the others.
    expect((await as("mia").get(`/api/messages/${message.id}`)).body.content).toBe("before I go");
    expectError(await as("own").delete(`/api/conversations/${id}/participants/mem`), 404, "NOT_FOUND");
  });

  test("an admin removes members and admins, but not an owner (403)", async () => {
    const { id } = await team();
    await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new1"], role: "admin" });
    await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["co"], role: "owner" });
    expect((await as("adm").delete(`/api/conversations/${id}/participants/mem`)).status).toBe(204);
    expect((await as("adm").delete(`/api/conversations/${id}/participants/new1`)).status).toBe(204);
    expectError(await as("adm").delete(`/api/conversations/${id}/participants/co`), 403, "FORBIDDEN");
    expect(await rolesOf(id)).toEqual({ own: "owner", adm: "admin", mia: "member", co: "owner" });
  });

  test("nobody removes the last owner (409); a member removes nobody else (403)", async () => {
    const { id } = await team();
    expectError(await as("adm").delete(`/api/conversations/${id}/participants/own`), 409, "CONFLICT");
    expectError(await as("mem").delete(`/api/conversations/${id}/participants/mia`), 403, "FORBIDDEN");
    expectError(await as("mem").delete(`/api/conversations/${id}/participants/own`), 409, "CONFLICT");
    expectError(await as("out").delete(`/api/conversations/${id}/participants/mem`), 404, "NOT_FOUND");
    expect(Object.keys(await rolesOf(id)).sort()).toEqual(["adm", "mem", "mia", "own"]);
  });

  test("anyone leaves, the last owner too: ownership passes to the longest-standing admin", async () => {
    const { id } = await team();
    expect((await as("mem").delete(`/api/conversations/${id}/participants/mem`)).status).toBe(204);
    // The last owner may leave a group that still has members: `adm` is its only admin.
    expect((await as("own").delete(`/api/conversations/${id}/participants/own`)).status).toBe(204);
    const left = (await as("adm").get(`/api/conversations/${id}`)).body as Conversation;
    expect(left.participants.map((p) => [p.userId, p.role])).toEqual([
      ["adm", "owner"],
      ["mia", "member"],
    ]);
    expectError(await as("own").get(`/api/conversations/${id}`), 404, "NOT_FOUND");
    // The last one standing may leave too.
    expect((await as("adm").delete(`/api/conversations/${id}/participants/adm`)).status).toBe(204);
    expect((await as("mia").get(`/api/conversations/${id}`)).body.participants.map((p: { userId: string; role: string }) => [p.userId, p.role])).toEqual([["mia", "owner"]]);
    expect((await as("mia").delete(`/api/conversations/${id}/participants/mia`)).status).toBe(204);
    expectError(await as("mia").get(`/api/conversations/${id}`), 404, "NOT_FOUND");
  });

  test("without admins, ownership passes to the longest-standing member, ties broken by user id", async () => {
    const created = (await as("own").post("/api/conversations", { type: "group", participantIds: ["mia", "mem"] })).body;
    await as("own").post(`/api/conversations/${created.id}/participants`, { userIds: ["new1"] });
    expect((await as("own").delete(`/api/conversations/${created.id}/participants/own`)).status).toBe(204);
    // mem and mia joined together, before new1: "mem" sorts first.
    expect(await rolesOfAs("mia", created.id)).toEqual({ mem: "owner", mia: "member", new1: "member" });
  });

  test("with another owner left, nobody is promoted when an owner leaves", async () => {
    const { id } = await team();
    await as("own").patch(`/api/conversations/${id}/participants/mia`, { role: "owner" });
    expect((await as("own").delete(`/api/conversations/${id}/participants/own`)).status).toBe(204);
    expect(await rolesOfAs("mia", id)).toEqual({ adm: "admin", mem: "member", mia: "owner" });
  });

  test("either side leaves a direct conversation; the other keeps it, and asking for it again brings the leaver back", async () => {
    const direct = (await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mia"] })).body;
    await as("mia").post(`/api/conversations/${direct.id}/messages`, { content: "are you there?" });
    // Removing the other side is not leaving: still 409.
    expectError(await as("mem").delete(`/api/conversations/${direct.id}/participants/mia`), 409, "CONFLICT");
    expect((await as("mem").delete(`/api/conversations/${direct.id}/participants/mem`)).status).toBe(204);
    expectError(await as("mem").get(`/api/conversations/${direct.id}`), 404, "NOT_FOUND");
    const kept = (await as("mia").get(`/api/conversations/${direct.id}`)).body;
    expect(kept.participants.map((p: { userId: string }) => p.userId)).toEqual(["mia"]);
    expect((await as("mia").get(`/api/conversations/${direct.id}/messages`)).body.data).toHaveLength(1);

    // The leaver asks for the pair's conversation again: the same one, history intact, already read.
    const back = await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mia"] });
    expect(back.status).toBe(200);
    expect(back.body.id).toBe(direct.id);
    expect(back.body.participants.map((p: { userId: string }) => p.userId).sort()).toEqual(["mem", "mia"]);
    expect(back.body.unreadCount).toBe(0);
    expect((await as("mem").get(`/api/conversations/${direct.id}/messages`)).body.data.map((m: { content: string }) => m.content)).toEqual(["are you there?"]);

    // The other side asking brings a leaver back too.
    expect((await as("mia").delete(`/api/conversations/${direct.id}/participants/mia`)).status).toBe(204);
    const again = await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mia"] });
    expect(again.body.id).toBe(direct.id);
    expect((await as("mia").get(`/api/conversations/${direct.id}`)).status).toBe(200);
  });

  test("removing someone who is not in the group is 404; malformed ids are 400", async () => {
    const { id } = await team();
    expectError(await as("own").delete(`/api/conversations/${id}/participants/out`), 404, "NOT_FOUND");
    expectError(await as("own").delete(`/api/conversations/${id}/participants/nobody-at-all`), 404, "NOT_FOUND");
    expectError(await as("own").delete(`/api/conversations/${id}/participants/no%20way`), 400, "VALIDATION_ERROR");
    expectError(await as("own").delete("/api/conversations/123/participants/mem"), 400, "VALIDATION_ERROR");
  });
});

describe("member counts", () => {
  test("every conversation's member_count matches its participants through joins, leaves, removals and deletions", async () => {
    await svc.syncUsers("mc-gone", "mc-back");
    const { id } = await team();
    await as("own").post(`/api/conversations/${id}/participants`, { userIds: ["new1", "new2", "mc-gone"] });
    await as("own").delete(`/api/conversations/${id}/participants/new1`);
    await as("new2").delete(`/api/conversations/${id}/participants/new2`);
    await as("own").delete(`/api/conversations/${id}/participants/own`);
    const direct = (await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mc-back"] })).body;
    await (await svc.as("mc-back")).delete(`/api/conversations/${direct.id}/participants/mc-back`);
    await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mc-back"] });
    await as("own").post("/api/conversations", { type: "direct", participantIds: ["mc-gone"] });
    expect((await svc.internal("DELETE", "/api/users/mc-gone")).status).toBe(204);

    const counts = await queryRows<{ id: string; memberCount: number; actual: number }>(
      svc.app.ctx.db,
      sql`select c.id, c.member_count as "memberCount", (select count(*)::int from participants p where p.conversation_id = c.id) as actual from conversations c`,
    );
    expect(counts.length).toBeGreaterThan(3);
    expect(counts.filter((c) => c.memberCount !== c.actual)).toEqual([]);
    expect(counts.find((c) => c.id === id)).toMatchObject({ memberCount: 3 });
  });
});
