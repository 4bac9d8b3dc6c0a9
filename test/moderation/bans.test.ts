/** Bans: an owner or admin removes a user from a group and keeps them out until `until` or until lifted. */
import { describe, expect, test } from "bun:test";
import { connectAs, fence, makeUsers } from "../helpers/realtime";
import { eventually, nextEvent, record } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A group: owner, admin, members bob and cat; eve outside. */
async function team() {
  const [own, adm, bob, cat, eve] = await makeUsers(svc, "own", "adm", "bob", "cat", "eve");
  const owner = await svc.as(own!);
  const created = await owner.post("/api/conversations", { type: "group", participantIds: [adm, bob, cat], name: "team" });
  const id: string = created.body.id;
  expect((await owner.patch(`/api/conversations/${id}/participants/${adm}`, { role: "admin" })).status).toBe(200);
  return { own: own!, adm: adm!, bob: bob!, cat: cat!, eve: eve!, id, owner, admin: await svc.as(adm!) };
}
const membersOf = async (client: { get(p: string): Promise<any> }, id: string) => (await client.get(`/api/conversations/${id}`)).body.participants.map((p: any) => p.userId).sort();

describe("banning", () => {
  test("removes the participant as a removal does, tells them, and records the ban", async () => {
    const { own, adm, bob, cat, id, admin, owner } = await team();
    const sBob = await connectAs(svc.wsUrl, svc, bob);
    const sCat = await connectAs(svc.wsUrl, svc, cat);
    const removed = nextEvent(sBob, "conversation:removed", (e) => e.conversationId === id);
    const seenByCat = nextEvent(sCat, "participant:removed", (e) => e.conversationId === id);
    const res = await admin.post(`/api/conversations/${id}/bans`, { userId: bob, reason: "spam" });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ conversationId: id, userId: bob, bannedBy: adm, until: null, reason: "spam", createdAt: expect.stringMatching(ISO) });
    expect(await removed).toEqual({ conversationId: id });
    expect((await seenByCat).userId).toBe(bob);
    expect(await membersOf(owner, id)).toEqual([own, adm, cat].sort());
    expectError(await (await svc.as(bob)).get(`/api/conversations/${id}`), 404, "NOT_FOUND");

    // The room no longer reaches Bob.
    const wall = await fence(svc, [
      { userId: own, socket: await connectAs(svc.wsUrl, svc, own) },
      { userId: bob, socket: sBob },
    ]);
    const leaked = record(sBob, "message:new");
    expect((await owner.post(`/api/conversations/${id}/messages`, { content: "after the ban" })).status).toBe(201);
    await wall.pass();
    expect(leaked.filter((m) => m.conversationId === id)).toEqual([]);

    const listed = await owner.get(`/api/conversations/${id}/bans`);
    expect(listed.body).toEqual({ data: [res.body], hasMore: false, nextCursor: null });

    await eventually(() => receiver.acceptedOf("participant.removed").some((d) => d.payload.data.userId === bob), 5000, "participant.removed webhook");
    const hook = receiver.acceptedOf("participant.removed").find((d) => d.payload.data.userId === bob)!;
    expect(hook.payload.data).toEqual({ conversationId: id, userId: bob, removedBy: adm, timestamp: expect.stringMatching(ISO), banned: true });
  });

  test("a banned user cannot be added back until lifted; then they can", async () => {
    const { bob, cat, id, owner, admin } = await team();
    await owner.post(`/api/conversations/${id}/bans`, { userId: bob });
    const refused = await admin.post(`/api/conversations/${id}/participants`, { userIds: [bob, cat] });
    expectError(refused, 403, "FORBIDDEN");
    expect(refused.body.error.details).toEqual({ userIds: [bob] });
    expect((await owner.get(`/api/conversations/${id}`)).body.participants.some((p: any) => p.userId === bob)).toBe(false);

    expect((await admin.delete(`/api/conversations/${id}/bans/${bob}`)).status).toBe(204);
    expect((await admin.delete(`/api/conversations/${id}/bans/${bob}`)).status).toBe(204);
    expect((await owner.get(`/api/conversations/${id}/bans`)).body.data).toEqual([]);
    expect((await admin.post(`/api/conversations/${id}/participants`, { userIds: [bob] })).status).toBe(200);
  });

  test("a ban with an end keeps the user out until then, and no longer", async () => {
    const { bob, id, owner } = await team();
    const until = new Date(Date.now() + 1000).toISOString();
    const res = await owner.post(`/api/conversations/${id}/bans`, { userId: bob, until });
    expect(res.body.until).toBe(until);
    expectError(await owner.post(`/api/conversations/${id}/participants`, { userIds: [bob] }), 403, "FORBIDDEN");
    await Bun.sleep(Date.parse(until) - Date.now() + 100);
    expect((await owner.get(`/api/conversations/${id}/bans`)).body.data).toEqual([]);
    expect((await owner.post(`/api/conversations/${id}/participants`, { userIds: [bob] })).status).toBe(200);
  });

  test("a user who is not a participant can be banned before they are ever added; banning again replaces the ban", async () => {
    const { eve, id, owner, admin } = await team();
    expect((await owner.post(`/api/conversations/${id}/bans`, { userId: eve, reason: "first" })).status).toBe(201);
    const again = await admin.post(`/api/conversations/${id}/bans`, { userId: eve, reason: "second" });
    expect(again.status).toBe(201);
    expect((await owner.get(`/api/conversations/${id}/bans`)).body.data).toEqual([again.body]);
    expectError(await owner.post(`/api/conversations/${id}/participants`, { userIds: [eve] }), 403, "FORBIDDEN");
  });

  test("who may ban whom", async () => {
    const { own, adm, bob, cat, id, owner, admin } = await team();
    const member = await svc.as(cat);
    expectError(await admin.post(`/api/conversations/${id}/bans`, { userId: own }), 403, "FORBIDDEN");
    expectError(await member.post(`/api/conversations/${id}/bans`, { userId: bob }), 403, "FORBIDDEN");
    expectError(await member.get(`/api/conversations/${id}/bans`), 403, "FORBIDDEN");
    expectError(await member.delete(`/api/conversations/${id}/bans/${bob}`), 403, "FORBIDDEN");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: own }), 400, "VALIDATION_ERROR");
    // A second owner cannot be banned either, even by an owner.
    expect((await owner.patch(`/api/conversations/${id}/participants/${bob}`, { role: "owner" })).status).toBe(200);
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: bob }), 403, "FORBIDDEN");
    // An admin bans another admin, as they may remove one.
    expect((await owner.patch(`/api/conversations/${id}/participants/${cat}`, { role: "admin" })).status).toBe(200);
    expect((await admin.post(`/api/conversations/${id}/bans`, { userId: cat })).status).toBe(201);
    expect(await membersOf(owner, id)).toEqual([own, adm, bob].sort());
  });

  test("bad input, outsiders and direct conversations change nothing", async () => {
    const { own, bob, eve, id, owner } = await team();
    const outsider = await svc.as(eve);
    expectError(await outsider.post(`/api/conversations/${id}/bans`, { userId: bob }), 404, "NOT_FOUND");
    expectError(await outsider.get(`/api/conversations/${id}/bans`), 404, "NOT_FOUND");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: "nobody-synced-this" }), 404, "NOT_FOUND");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: bob, until: new Date(Date.now() - 1000).toISOString() }), 400, "VALIDATION_ERROR");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: bob, until: "soon" }), 400, "VALIDATION_ERROR");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: bob, until: "2099-02-30T00:00:00Z" }), 400, "VALIDATION_ERROR");
    expectError(await owner.post(`/api/conversations/${id}/bans`, { userId: bob, reason: "x".repeat(501) }), 400, "VALIDATION_ERROR");
    expectError(await owner.post(`/api/conversations/${id}/bans`, {}), 400, "VALIDATION_ERROR");
    expectError(await owner.get(`/api/conversations/${id}/bans?cursor=!!`), 400, "VALIDATION_ERROR");
    expect(await membersOf(owner, id)).toContain(bob);
    expect((await owner.get(`/api/conversations/${id}/bans`)).body.data).toEqual([]);

    const direct = await owner.post("/api/conversations", { type: "direct", participantIds: [bob] });
    expectError(await owner.post(`/api/conversations/${direct.body.id}/bans`, { userId: bob }), 409, "CONFLICT");
    expect(await membersOf(owner, direct.body.id)).toEqual([own, bob].sort());
  });

  test("the list pages in user id order", async () => {
    const { bob, cat, eve, id, owner } = await team();
    for (const userId of [eve, bob, cat]) expect((await owner.post(`/api/conversations/${id}/bans`, { userId })).status).toBe(201);
    const ids = [bob, cat, eve].sort();
    const first = await owner.get(`/api/conversations/${id}/bans?limit=2`);
    expect(first.body.data.map((b: any) => b.userId)).toEqual(ids.slice(0, 2));
    expect(first.body.hasMore).toBe(true);
    const second = await owner.get(`/api/conversations/${id}/bans?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toMatchObject({ data: [{ userId: ids[2] }], hasMore: false, nextCursor: null });
  });
});
