import { afterEach, describe, expect, test } from "bun:test";
import { type ChatClient, type ChatClientOptions, createChatClient } from "../../src/client";
import { TYPING_IDLE_MS } from "../../src/client/conversation";
import { internal, restAs, startCluster } from "../helpers/instances";
import { connectAs, fence, group, makeUsers } from "../helpers/realtime";
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

  test("sends made while disconnected, and one whose answer was lost with the connection, are each stored once, in order", async () => {
    const { ann, conversationId } = await pair(svc);
    const { client } = clientOf(svc.url, ann);
    const conversation = client.conversation(conversationId);
    await connected(client);

    // The transport drops; socket.io-client reconnects by itself a moment later.
    client.socket.io.engine.close();
    expect(client.status).toBe("reconnecting");
    const away = ["away 1", "away 2", "away 3"].map((content) => conversation.send({ content }));
    expect(conversation.pending.map((p) => [p.content, p.status])).toEqual([
      ["away 1", "sending"],
      ["away 2", "sending"],
      ["away 3", "sending"],
    ]);
    expect((await Promise.all(away)).map((m) => m.content)).toEqual(["away 1", "away 2", "away 3"]);

    await connected(client);
    const attempts: string[] = [];
    client.socket.onAnyOutgoing((event, payload) => event === "message:send" && attempts.push(payload.clientMessageId));
    // Written to the socket, then the connection goes before any answer can come back.
    const lost = conversation.send({ content: "answer lost" });
    await Bun.sleep(0);
    client.socket.io.engine.close();
    expect((await lost).content).toBe("answer lost");
    expect(attempts).toEqual([attempts[0]!, attempts[0]!]); // sent again, with the same clientMessageId

    const stored = (await (await svc.as(ann)).get(`/api/conversations/${conversationId}/messages`)).body.data;
    expect(stored.map((m: any) => [m.seq, m.content])).toEqual([
      [1, "away 1"],
      [2, "away 2"],
      [3, "away 3"],
      [4, "answer lost"],
    ]);
    await eventually(() => conversation.messages.length === 4 && conversation.pending.length === 0, 5000, "all confirmed");
    expect(conversation.messages).toEqual(stored);
  });

  test("a message:new that skips a seq makes it sync the messages in between", async () => {
    const { ann, bob, conversationId } = await pair(svc);
    const { client, calls } = clientOf(svc.url, ann);
    const conversation = client.conversation(conversationId);
    await connected(client);
    await eventually(() => client.presence(ann)?.status === "online", 5000, "snapshot loaded");
    const rest = await svc.as(bob);
    // Out of the room (the socket stays connected): these two are not delivered live.
    await client.emit("room:leave", { conversationId });
    for (const content of ["one", "two"]) await rest.post(`/api/conversations/${conversationId}/messages`, { content });
    await client.emit("room:join", { conversationId });
    expect(conversation.messages).toEqual([]);
    await rest.post(`/api/conversations/${conversationId}/messages`, { content: "three" });
    await eventually(() => conversation.messages.length === 3, 5000, "gap filled");
    expect(conversation.messages.map((m) => [m.seq, m.content])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ]);
    expect(calls.token).toBe(1); // filled by sync, not by a reconnect
  });

  test("asks for a fresh token on each reconnect, after a TOKEN_EXPIRED refusal and after its tokens are revoked", async () => {
    const [ann] = await makeUsers(svc, "ann");
    let tokens = 0;
    const client = createChatClient({
      url: svc.url,
      transports: ["websocket"],
      reconnectionDelay: 100,
      // The first token handed out has already expired (beyond the service's 30 s leeway).
      token: () => (++tokens === 1 ? mintToken(ann!, { expiresIn: Math.floor(Date.now() / 1000) - 120 }) : mintToken(ann!)),
    });
    clients.push(client);
    await connected(client);
    expect(tokens).toBe(2);

    client.socket.io.engine.close();
    await connected(client);
    expect(tokens).toBe(3);

    // Tokens issued up to now are refused from now on: the live socket gets UNAUTHORIZED and is cut.
    const issuedUpTo = Math.floor(Date.now() / 1000);
    await Bun.sleep(1100);
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    const revoked = await svc.internal("POST", `/api/users/${ann}/revoke-tokens`, { before: issuedUpTo });
    expect(revoked.status).toBe(200);
    await eventually(() => tokens === 4 && client.status === "connected", 10_000, "reconnected with a fresh token");
    expect(errors).toEqual(["UNAUTHORIZED"]);
  });

  test("USER_NOT_FOUND stops it for good: reported once, never retried", async () => {
    const { client, calls } = clientOf(svc.url, "nobody-synced-this-user");
    const refusals: string[] = [];
    client.onRefused((e) => refusals.push(e.code));
    await eventually(() => client.status === "refused", 5000, "refused");
    expect(client.refusal).toMatchObject({ code: "USER_NOT_FOUND" });
    await Bun.sleep(1500);
    expect(refusals).toEqual(["USER_NOT_FOUND"]);
    expect(calls.token).toBe(1);
    await expect(client.emit("ping", {})).rejects.toMatchObject({ code: "USER_NOT_FOUND" });

    // Deleted while connected: the service says why, then cuts the socket.
    const [ann] = await makeUsers(svc, "ann");
    const live = clientOf(svc.url, ann!);
    await connected(live.client);
    expect((await svc.internal("DELETE", `/api/users/${ann}`)).status).toBe(204);
    await eventually(() => live.client.status === "refused", 5000, "refused after deletion");
    expect(live.client.refusal).toMatchObject({ code: "USER_NOT_FOUND" });
    await Bun.sleep(1500);
    expect(live.calls.token).toBe(1);
  });

  test("opening a conversation loads who is online; live events keep it current", async () => {
    const { ann, bob, conversationId } = await pair(svc);
    const bobSocket = await connectAs(svc.wsUrl, svc, bob);
    const rest = await svc.as(ann);
    // Online before Ann connects: no user:online will tell her, only the snapshot.
    const bobPresence = async () => (await rest.get(`/api/users/${bob}/presence`)).body;
    await eventually(async () => ((p) => p.status === "online" && p.lastSeen !== null)(await bobPresence()), 5000, "bob online, lastSeen written");
    const { client } = clientOf(svc.url, ann);
    const seen: string[] = [];
    client.onPresence((p) => seen.push(`${p.userId === bob ? "bob" : "ann"} ${p.status}`));
    client.conversation(conversationId);
    await eventually(() => client.presence(bob)?.status === "online", 5000, "bob online from the snapshot");
    expect(client.presence(bob)).toEqual({ userId: bob, status: "online", lastSeen: expect.any(String) });
    bobSocket.close();
    await eventually(() => client.presence(bob)?.status === "offline", 5000, "bob offline");
    expect(seen.filter((s) => s.startsWith("bob"))).toEqual(["bob online", "bob offline"]);
  });

  test("typing: one start however often it is called, a stop once idle or on send", async () => {
    const { ann, bob, conversationId } = await pair(svc);
    const bobSocket = await connectAs(svc.wsUrl, svc, bob);
    const wall = await fence(svc, [{ userId: bob, socket: bobSocket }]);
    const atBob = record(bobSocket, "user:typing");
    const { client } = clientOf(svc.url, ann);
    const conversation = client.conversation(conversationId);
    await connected(client);
    const stopped = nextEvent(bobSocket, "user:typing", (e: any) => !e.isActive, TYPING_IDLE_MS + 5000);
    for (let i = 0; i < 10; i++) {
      conversation.typing();
      await Bun.sleep(100);
    }
    await stopped;
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true, false]);

    conversation.typing();
    await conversation.send({ content: "done" });
    await wall.pass();
    expect(atBob.map((e) => e.isActive)).toEqual([true, false, true, false]);
  });

  test("keeps edits, deletions, reactions, reads and other users' typing of an open conversation", async () => {
    const { ann, bob, conversationId } = await pair(svc);
    const { client } = clientOf(svc.url, ann);
    const conversation = client.conversation(conversationId);
    await connected(client);
    const bobSocket = await connectAs(svc.wsUrl, svc, bob);
    const first = await conversation.send({ content: "first" });
    const second = await conversation.send({ content: "second" });
    await client.emit("message:edit", { messageId: first.id, content: "first, edited" });
    await client.emit("message:delete", { messageId: second.id });
    const rest = await svc.as(bob);
    await rest.post(`/api/messages/${first.id}/reactions`, { emoji: "👍" });
    await rest.put(`/api/messages/${second.id}/read`);
    bobSocket.emit("typing:start", { conversationId });
    await eventually(() => conversation.typingUsers.includes(bob), 5000, "bob typing");
    await eventually(() => conversation.readBy(2).includes(bob), 5000, "bob's read");
    const stored = (await rest.get(`/api/conversations/${conversationId}/messages`)).body.data;
    expect(conversation.messages).toEqual(stored);
    expect(conversation.messages[0]).toMatchObject({ content: "first, edited", isEdited: true, reactions: [{ emoji: "👍", count: 1, userIds: [bob] }] });
    expect(conversation.messages[1]).toMatchObject({ isDeleted: true, content: "" });
  });
});

describe("client SDK across a restart of the service", () => {
  test("messages sent while it was down arrive by sync once it is back", async () => {
    const cluster = await startCluster();
    try {
      const first = await cluster.start();
      const ports = { PORT: new URL(first.url).port, WS_PORT: new URL(first.wsUrl).port };
      const [ann, bob] = ["ann-restart", "bob-restart"];
      await internal(first, "POST", "/api/users/sync/batch", { users: [{ externalUserId: ann }, { externalUserId: bob }] });
      const created = await (await restAs(first, ann)).post("/api/conversations", { type: "direct", participantIds: [bob] });
      const conversationId = created.body.id as string;
      const { client } = clientOf(first.wsUrl, ann);
      const conversation = client.conversation(conversationId);
      await connected(client);
      await conversation.send({ content: "before" });

      await first.stop();
      await eventually(() => client.status === "reconnecting", 5000, "reconnecting");
      // Another instance takes Bob's messages while Ann's is down.
      const other = await cluster.start();
      const bobRest = await restAs(other, bob);
      for (const content of ["while down 1", "while down 2"]) await bobRest.post(`/api/conversations/${conversationId}/messages`, { content });
      const away = conversation.send({ content: "queued by ann" });

      await cluster.start(ports);
      await connected(client, 30_000);
      await away;
      await eventually(() => conversation.messages.length === 4, 10_000, "gap filled after restart");
      expect(conversation.messages.map((m) => [m.seq, m.content])).toEqual([
        [1, "before"],
        [2, "while down 1"],
        [3, "while down 2"],
        [4, "queued by ann"],
      ]);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});

describe("client SDK with many conversations", () => {
  /** A socket may send 10 events per 10 s here, and is cut at twice that. */
  const tight = serviceForTests({ RATE_LIMIT_EVENTS: "10" });

  test("opening more conversations than the socket's event budget syncs them all without being cut off", async () => {
    const [ann, bob] = await makeUsers(tight, "ann", "bob");
    const owner = await tight.as(bob!);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = await group(tight, bob!, [ann!], `g${i}`);
      await owner.post(`/api/conversations/${id}/messages`, { content: `in g${i}` });
      ids.push(id);
    }
    const { client, calls } = clientOf(tight.url, ann!);
    const statuses: string[] = [];
    client.onStatus((s) => statuses.push(s));
    // A sync and a presence snapshot each: 24 reads, more than twice the budget.
    const conversations = ids.map((id) => client.conversation(id));
    await eventually(() => conversations.every((c) => c.messages.length === 1), 40_000, "every conversation synced");
    await eventually(() => client.presence(ann!)?.status === "online", 5000, "snapshots loaded");
    expect(conversations.map((c) => c.messages[0]!.content)).toEqual(ids.map((_, i) => `in g${i}`));
    expect(statuses).toEqual(["connected"]);
    expect(calls.token).toBe(1);
  }, 60_000);
});
