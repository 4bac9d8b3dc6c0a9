/** Mutes: the caller's own, shown on their Conversation only, ending by themselves at `until`. */
import { describe, expect, test } from "bun:test";
import { connectAs, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent } from "../helpers/sockets";

const svc = serviceForTests();

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

async function pair() {
  const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
  const a = await svc.as(ann!);
  const b = await svc.as(bob!);
  const created = await a.post("/api/conversations", { type: "group", participantIds: [bob], name: "mutes" });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ muted: false, mutedUntil: null });
  return { ann: ann!, bob: bob!, eve: eve!, a, b, id: created.body.id as string };
}

describe("muting", () => {
  test("until unmuted: shown to the caller only, in the conversation and in the list", async () => {
    const { a, b, id } = await pair();
    const muted = await a.put(`/api/conversations/${id}/mute`);
    expect(muted.status).toBe(200);
    expect(muted.body).toEqual({ conversationId: id, muted: true, mutedUntil: null });
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: true, mutedUntil: null });
    expect((await a.get("/api/conversations")).body.data.find((c: any) => c.id === id)).toMatchObject({ muted: true, mutedUntil: null });
    expect((await b.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: false, mutedUntil: null });

    // Everything else is unchanged: messages still reach the muted user.
    const socket = await connectAs(svc.wsUrl, svc, a.userId);
    const arrived = nextEvent(socket, "message:new", (m) => m.conversationId === id);
    expect((await b.post(`/api/conversations/${id}/messages`, { content: "hi" })).status).toBe(201);
    expect((await arrived).content).toBe("hi");
    expect((await a.get(`/api/conversations/${id}`)).body.unreadCount).toBe(1);

    expect((await a.delete(`/api/conversations/${id}/mute`)).status).toBe(204);
    expect((await a.delete(`/api/conversations/${id}/mute`)).status).toBe(204);
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: false, mutedUntil: null });
  });

  test("until a time: shown with it, then read as not muted once it passed; muting again replaces it", async () => {
    const { a, id } = await pair();
    const far = new Date(Date.now() + 3_600_000).toISOString();
    expect((await a.put(`/api/conversations/${id}/mute`, { until: far })).body).toEqual({ conversationId: id, muted: true, mutedUntil: far });
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: true, mutedUntil: far });

    const soon = new Date(Date.now() + 700).toISOString();
    expect((await a.put(`/api/conversations/${id}/mute`, { until: soon })).body.mutedUntil).toBe(soon);
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: true, mutedUntil: soon });
    await Bun.sleep(Date.parse(soon) - Date.now() + 50);
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: false, mutedUntil: null });

    // An offset is accepted and answered in UTC.
    const offset = new Date(Date.now() + 3_600_000);
    offset.setUTCMilliseconds(0);
    const withOffset = offset.toISOString().replace(/\.000Z$/, "+00:00");
    expect((await a.put(`/api/conversations/${id}/mute`, { until: withOffset })).body.mutedUntil).toBe(offset.toISOString());
  });

  test("bad input and outsiders change nothing", async () => {
    const { a, eve, id } = await pair();
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: new Date(Date.now() - 1000).toISOString() }), 400, "VALIDATION_ERROR");
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: "tomorrow" }), 400, "VALIDATION_ERROR");
    // A day its month does not have is not rolled over into the next.
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: "2099-02-30T10:00:00Z" }), 400, "VALIDATION_ERROR");
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: "2099-04-31T10:00:00+02:00" }), 400, "VALIDATION_ERROR");
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: 12 }), 400, "VALIDATION_ERROR");
    expectError(await a.put(`/api/conversations/${id}/mute`, { until: "275760-09-13T00:00:00.000Z" }), 400, "VALIDATION_ERROR");
    expectError(await a.put("/api/conversations/not-a-uuid/mute"), 400, "VALIDATION_ERROR");
    const outsider = await svc.as(eve);
    expectError(await outsider.put(`/api/conversations/${id}/mute`), 404, "NOT_FOUND");
    expectError(await outsider.delete(`/api/conversations/${id}/mute`), 404, "NOT_FOUND");
    expect((await a.get(`/api/conversations/${id}`)).body).toMatchObject({ muted: false, mutedUntil: null });
    // February 29 of a leap year is a day.
    expect((await a.put(`/api/conversations/${id}/mute`, { until: "2096-02-29T10:00:00Z" })).status).toBe(200);
  });

  test("room events carry no mute: a rename reaches a muted and an unmuted member alike", async () => {
    const { a, b, id } = await pair();
    await a.put(`/api/conversations/${id}/mute`);
    const sA = await connectAs(svc.wsUrl, svc, a.userId);
    const sB = await connectAs(svc.wsUrl, svc, b.userId);
    const atA = nextEvent(sA, "conversation:updated", (u) => u.conversationId === id);
    const atB = nextEvent(sB, "conversation:updated", (u) => u.conversationId === id);
    expect((await a.patch(`/api/conversations/${id}`, { name: "renamed" })).status).toBe(200);
    const [seenA, seenB] = await Promise.all([atA, atB]);
    expect(seenA).toEqual(seenB);
    expect(Object.keys(seenA)).not.toContain("muted");
  });
});
