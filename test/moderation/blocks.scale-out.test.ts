/** A block made through one instance holds on the other: sends refused, presence events withheld. */
import { expect, test } from "bun:test";
import { call } from "../helpers/realtime";
import { connectTo, groupOn, type Instance, restAs, usersOn, withTwoInstances } from "../helpers/instances";
import { nextEvent, record } from "../helpers/sockets";

let a: Instance;
let b: Instance;
withTwoInstances((x, y) => {
  [a, b] = [x, y];
});

test("the blocked user on the other instance cannot send, and does not hear the blocker come online or go offline", async () => {
  const [ann, bob, cat] = await usersOn(a, "ann", "bob", "cat");
  const direct = await (await restAs(a, ann!)).post("/api/conversations", { type: "direct", participantIds: [bob] });
  const groupId = await groupOn(a, ann!, [bob!, cat!]);
  expect((await (await restAs(a, ann!)).put(`/api/me/blocks/${bob}`)).status).toBe(204);

  const bobOnB = await connectTo(b, bob!);
  const catOnB = await connectTo(b, cat!);
  const refused = await call(bobOnB, "message:send", { conversationId: direct.body.id, content: "hi" });
  expect(refused.ok ? "ok" : refused.error.code).toBe("FORBIDDEN");

  const onlineAtBob = record(bobOnB, "user:online");
  const offlineAtBob = record(bobOnB, "user:offline");
  const online = nextEvent(catOnB, "user:online", (e) => e.userId === ann && e.conversationId === groupId);
  const annOnA = await connectTo(a, ann!);
  await online;
  const offline = nextEvent(catOnB, "user:offline", (e) => e.userId === ann && e.conversationId === groupId);
  annOnA.close();
  await offline;
  // A message sent after, through the instance Ann was on, reaches Bob: the presence events came before it.
  const fenced = nextEvent(bobOnB, "message:new", (m) => m.content === "fence");
  expect((await (await restAs(a, cat!)).post(`/api/conversations/${groupId}/messages`, { content: "fence" })).status).toBe(201);
  await fenced;
  expect(onlineAtBob.filter((e) => e.userId === ann)).toEqual([]);
  expect(offlineAtBob.filter((e) => e.userId === ann)).toEqual([]);
  expect((await (await restAs(b, bob!)).get(`/api/users/${ann}/presence`)).body.status).toBe("offline");
});
