import { afterEach, describe, expect, test } from "bun:test";
import { type ChatClient, createChatClient } from "../../src/client";
import { group, makeUsers } from "../helpers/realtime";
import { mintToken, serviceForTests } from "../helpers/service";
import { eventually } from "../helpers/sockets";

const svc = serviceForTests();

const clients: ChatClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function clientOf(userId: string) {
  const client = createChatClient({ url: svc.url, token: () => mintToken(userId), transports: ["websocket"] });
  clients.push(client);
  await eventually(() => client.status === "connected", 10_000, "client connected");
  return client;
}

describe("client SDK: mentions, unread totals and mark unread", () => {
  test("sends and edits mentions; another client sees the edit's mentions live", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob]);
    const [annChat, bobChat] = [await clientOf(ann), await clientOf(bob)];
    const annRoom = annChat.conversation(conversationId);
    const bobRoom = bobChat.conversation(conversationId);
    const sent = await annRoom.send({ content: "@bob", mentions: [bob] });
    expect(sent.mentions).toEqual([bob]);
    await eventually(() => bobRoom.messages.some((m) => m.id === sent.id), 5000, "bob has the message");
    expect(await bobChat.unread()).toEqual({ unreadCount: 1, unreadMentionCount: 1, unreadConversations: 1 });

    const edited = await annRoom.edit(sent.id, { content: "@ann", mentions: [ann] });
    expect(edited).toMatchObject({ content: "@ann", mentions: [ann], isEdited: true });
    expect(annRoom.messages.find((m) => m.id === sent.id)?.mentions).toEqual([ann]);
    await eventually(() => bobRoom.messages.find((m) => m.id === sent.id)?.mentions[0] === ann, 5000, "bob sees the edited mentions");
    expect(await bobChat.unread()).toEqual({ unreadCount: 1, unreadMentionCount: 0, unreadConversations: 1 });
    await expect(annRoom.edit(sent.id, { content: "x", mentions: ["nobody-here"] })).rejects.toMatchObject({ code: "VALIDATION_ERROR", details: { userIds: ["nobody-here"] } });
  });

  test("markUnread answers the marker and the user's other clients hear conversation:unread", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob]);
    const phone = await clientOf(bob);
    const desk = await clientOf(bob);
    const heard: unknown[] = [];
    desk.on("conversation:unread", (u) => heard.push(u));
    const annApi = await svc.as(ann);
    const first = (await annApi.post(`/api/conversations/${conversationId}/messages`, { content: "one" })).body;
    await annApi.post(`/api/conversations/${conversationId}/messages`, { content: "two" });
    await (await svc.as(bob)).put(`/api/conversations/${conversationId}/read`);
    expect(await phone.unread()).toEqual({ unreadCount: 0, unreadMentionCount: 0, unreadConversations: 0 });
    const answer = await phone.conversation(conversationId).markUnread(first.id);
    expect(answer).toEqual({ conversationId, userId: bob, lastReadSeq: 0, unreadCount: 2 });
    await eventually(() => heard.length === 1, 5000, "the other client hears it");
    expect(heard).toEqual([answer]);
    expect(await desk.unread()).toEqual({ unreadCount: 2, unreadMentionCount: 0, unreadConversations: 1 });
  });
});
