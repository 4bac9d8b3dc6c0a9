import { afterEach, describe, expect, test } from "bun:test";
import { type ChatClient, type ChatClientOptions, createChatClient } from "../../src/client";
import { connectAs, group, makeUsers, ok } from "../helpers/realtime";
import { mintToken, serviceForTests, type TestService } from "../helpers/service";
import { eventually, nextEvent, record } from "../helpers/sockets";

const svc = serviceForTests();

const clients: ChatClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** An SDK client of `userId` against `url`, its token() calls counted. */
function clientOf(url: string, userId: string, opts: Partial<ChatClientOptions> = {}) {
  const calls = { token: 0 };
  const client = createChatClient({
    url,
    token: () => {
      calls.token++;
      return mintToken(userId);
    },
    transports: ["websocket"],
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    ...opts,
  });
  clients.push(client);
  return { client, calls };
}

const connected = (client: ChatClient, timeoutMs = 10_000) => eventually(() => client.status === "connected", timeoutMs, "client connected");

async function pair(service: TestService) {
  const [ann, bob] = await makeUsers(service, "ann", "bob");
  const conversationId = await group(service, ann!, [bob!]);
  return { ann: ann!, bob: bob!, conversationId };
}

describe("client SDK", () => {
  test("its own message:new and the ack of a send make one message, pending until then", async () => {
    const { ann, conversationId } = await pair(svc);
    const { client } = clientOf(svc.url, ann);
    const conversation = client.conversation(conversationId);
    await connected(client);
    const sent = conversation.send({ content: "hello" });
    expect(conversation.pending).toEqual([
      { conversationId, clientMessageId: expect.any(String), content: "hello", status: "sending", error: null, createdAt: expect.any(String) },
    ]);
    const clientMessageId = conversation.pending[0]!.clientMessageId;
    const message = await sent;
    expect(message).toMatchObject({ conversationId, content: "hello", senderId: ann, seq: 1, clientMessageId });
    // The room's message:new reaches this socket too; it must not add a second copy.
    const owner = await svc.as(ann);
    await owner.post(`/api/conversations/${conversationId}/messages`, { content: "after" });
    await eventually(() => conversation.messages.length === 2, 5000, "second message");
    expect(conversation.messages.map((m) => [m.seq, m.content])).toEqual([
      [1, "hello"],
      [2, "after"],
    ]);
    expect(conversation.pending).toEqual([]);
  });
});
