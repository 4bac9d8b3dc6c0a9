/**
 * A ban on two instances: the banned user's sockets on both leave the room at once, and the ban
 * holds whichever instance is asked to add them back.
 */
import { expect, test } from "bun:test";
import { connectTo, groupOn, type Instance, restAs, usersOn, withTwoInstances } from "../helpers/instances";
import { nextEvent, record } from "../helpers/sockets";

let a: Instance;
let b: Instance;
withTwoInstances((x, y) => {
  [a, b] = [x, y];
});

test("the banned user's sockets on both instances leave the room at once; adding them back waits for `until`", async () => {
  const [own, bob, cat] = await usersOn(a, "own", "bob", "cat");
  const id = await groupOn(a, own!, [bob!, cat!]);
  const fenceId = await groupOn(b, own!, [bob!], "fence");
  const onA = await connectTo(a, bob!);
  const onB = await connectTo(b, bob!);
  const catOnB = await connectTo(b, cat!);
  const owner = await restAs(a, own!);
  const ownerOnB = await restAs(b, own!);

  const removed = [onA, onB].map((s) => nextEvent(s, "conversation:removed", (e) => e.conversationId === id));
  const leaked = [record(onA, "message:new"), record(onB, "message:new")];
  const until = new Date(Date.now() + 2500).toISOString();
  const banned = await owner.post(`/api/conversations/${id}/bans`, { userId: bob, until });
  expect(banned.status).toBe(201);
  // Sent at once after the ban, through either instance: neither of Bob's sockets gets it.
  const afterBan = nextEvent(catOnB, "message:new", (m) => m.content === "right after");
  expect((await ownerOnB.post(`/api/conversations/${id}/messages`, { content: "right after" })).status).toBe(201);
  await afterBan;
  expect(await Promise.all(removed)).toEqual([{ conversationId: id }, { conversationId: id }]);
  // A message in a conversation Bob is still in, sent after, arrives on both: what came before has too.
  const fenced = [onA, onB].map((s) => nextEvent(s, "message:new", (m) => m.content === "fence"));
  expect((await owner.post(`/api/conversations/${fenceId}/messages`, { content: "fence" })).status).toBe(201);
  await Promise.all(fenced);
  for (const seen of leaked) expect(seen.filter((m) => m.conversationId === id)).toEqual([]);

  // Through the other instance, before `until`: refused.
  const early = await ownerOnB.post(`/api/conversations/${id}/participants`, { userIds: [bob] });
  expect({ status: early.status, code: early.body.error?.code }).toEqual({ status: 403, code: "FORBIDDEN" });
  await Bun.sleep(Math.max(0, Date.parse(until) - Date.now() + 100));
  const joined = [onA, onB].map((s) => nextEvent(s, "conversation:joined", (c) => c.id === id));
  expect((await ownerOnB.post(`/api/conversations/${id}/participants`, { userIds: [bob] })).status).toBe(200);
  await Promise.all(joined);
  const back = [onA, onB].map((s) => nextEvent(s, "message:new", (m) => m.content === "welcome back"));
  expect((await owner.post(`/api/conversations/${id}/messages`, { content: "welcome back" })).status).toBe(201);
  await Promise.all(back);
});

test("an owner cannot be banned, on either instance", async () => {
  const [own, co, adm] = await usersOn(a, "own", "co", "adm");
  const id = await groupOn(a, own!, [co!, adm!]);
  const owner = await restAs(a, own!);
  expect((await owner.patch(`/api/conversations/${id}/participants/${co}`, { role: "owner" })).status).toBe(200);
  expect((await owner.patch(`/api/conversations/${id}/participants/${adm}`, { role: "admin" })).status).toBe(200);
  for (const [on, by, target] of [[a, adm, own], [b, own, co], [b, adm, co]] as const) {
    const res = await (await restAs(on, by!)).post(`/api/conversations/${id}/bans`, { userId: target });
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: "FORBIDDEN" });
  }
  const roles = (await owner.get(`/api/conversations/${id}`)).body.participants.map((p: any) => p.role).sort();
  expect(roles).toEqual(["admin", "owner", "owner"]);
});
