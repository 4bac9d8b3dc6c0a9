import { describe, expect, test } from "bun:test";
import { serviceForTests, startService } from "../helpers/service";
import { teamCast } from "../helpers/team";

const svc = serviceForTests();
const { as, team, send } = teamCast(svc);
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

const history = async (conversationId: string) => (await as("own").get(`/api/conversations/${conversationId}/messages?limit=100`)).body.data;

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

describe("sending", () => {
  test("201 with the full message; the conversation shows it as its last message", async () => {
    const id = await team();
    const res = await as("mem").post(`/api/conversations/${id}/messages`, { content: "Hello 👋", metadata: { client: "web" } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID_V7),
      conversationId: id,
      seq: 1,
      senderId: "mem",
      content: "Hello 👋",
      attachments: [],
      replyTo: null,
      parentId: null,
      replyCount: 0,
      lastReplyAt: null,
      clientMessageId: null,
      metadata: { client: "web" },
      mentions: [],
      reactions: [],
      isEdited: false,
      isDeleted: false,
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: res.body.createdAt,
      editedAt: null,
      deletedAt: null,
      pinnedAt: null,
      pinnedBy: null,
    });
    expect((await as("mia").get(`/api/messages/${res.body.id}`)).body).toEqual(res.body);
    const conversation = (await as("own").get(`/api/conversations/${id}`)).body;
    expect(conversation.lastMessage).toEqual(res.body);
    expect(conversation.lastMessageAt).toBe(res.body.createdAt);
  });

  test("attachments alone make a message; they come back exactly as sent", async () => {
    const id = await team();
    const attachments = [
      { url: "https://cdn.example.com/a.png", type: "image", name: "a.png", mimeType: "image/png", size: 1024, width: 640, height: 480 },
      { url: "http://cdn.example.com/v.mp4", type: "video", duration: 12.5 },
    ];
    const message = await send("mem", id, { content: "", attachments });
    expect(message.attachments).toEqual(attachments);
    expect(message.content).toBe("");
    expect((await send("mem", id, { attachments: [{ url: "https://cdn.example.com/b.pdf" }] })).content).toBe("");
    expect((await send("mem", id, { content: "ten", attachments: Array.from({ length: 10 }, (_, i) => ({ url: `https://cdn.example.com/${i}` })) })).attachments).toHaveLength(10);
  });

  test("a reply names a message of the same conversation; anything else is 400 and sends nothing", async () => {
    const id = await team();
    const other = await team();
    const original = await send("mem", id, { content: "question" });
    const elsewhere = await send("mem", other, { content: "elsewhere" });
    expect((await send("mia", id, { content: "answer", replyTo: original.id })).replyTo).toBe(original.id);
    expect((await send("mia", id, { content: "no reply", replyTo: null })).replyTo).toBeNull();
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", replyTo: elsewhere.id }), 400, "VALIDATION_ERROR");
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", replyTo: UNKNOWN_ID }), 400, "VALIDATION_ERROR");
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", replyTo: "not-a-uuid" }), 400, "VALIDATION_ERROR");
    expect((await history(id)).map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
  });

  test("outsiders, unknown and malformed conversation ids", async () => {
    const id = await team();
    expectError(await as("out").post(`/api/conversations/${id}/messages`, { content: "let me in" }), 404, "NOT_FOUND");
    expectError(await as("mem").post(`/api/conversations/${UNKNOWN_ID}/messages`, { content: "x" }), 404, "NOT_FOUND");
    expectError(await as("mem").post("/api/conversations/xyz/messages", { content: "x" }), 400, "VALIDATION_ERROR");
    expect(await history(id)).toEqual([]);
  });

  test("invalid messages are 400 VALIDATION_ERROR and nothing is stored", async () => {
    const id = await team();
    const url = (u: string) => ({ content: "x", attachments: [{ url: u }] });
    const bodies: Record<string, unknown>[] = [
      {},
      { content: "" },
      { content: "   \n\t " },
      { content: "", attachments: [] },
      { content: 42 },
      { content: "x".repeat(4001) },
      { content: "x", attachments: Array.from({ length: 11 }, (_, i) => ({ url: `https://cdn.example.com/${i}` })) },
      url("ftp://cdn.example.com/a"),
      url("javascript:alert(1)"),
      url("/relative/path.png"),
      url("https://"),
      url("https://cdn.example.com/a b.png"),
      { content: "x", attachments: [{ name: "no url" }] },
      { content: "x", attachments: [{ url: "https://cdn.example.com/a", size: -1 }] },
      { content: "x", attachments: "https://cdn.example.com/a" },
      { content: "x", clientMessageId: "" },
      { content: "x", clientMessageId: "c".repeat(129) },
      { content: "x", metadata: "web" },
      { content: "x", metadata: ["web"] },
      { content: "x", metadata: { blob: "x".repeat(5000) } },
      { content: "nul \u0000 inside" },
      { content: "lone \ud83d surrogate" },
      { content: "x", attachments: [{ url: "https://cdn.example.com/a", name: "nul\u0000" }] },
    ];
    for (const body of bodies) {
      const res = await as("mem").post(`/api/conversations/${id}/messages`, body);
      expect({ body, status: res.status, code: res.body?.error?.code }).toEqual({ body, status: 400, code: "VALIDATION_ERROR" });
    }
    expect(await history(id)).toEqual([]);
    // The conversation still works, and its seqs start at 1: the refusals consumed none.
    expect((await send("mem", id, { content: "first" })).seq).toBe(1);
  });

  test("4000 characters is the default limit, counted in characters rather than bytes or UTF-16 units", async () => {
    const id = await team();
    expect((await send("mem", id, { content: "a".repeat(4000) })).content).toHaveLength(4000);
    // Each of these emoji is one character but two UTF-16 units and four UTF-8 bytes.
    expect((await send("mem", id, { content: "😀".repeat(4000) })).content).toBe("😀".repeat(4000));
    expectError(await as("mem").post(`/api/conversations/${id}/messages`, { content: "😀".repeat(4001) }), 400, "VALIDATION_ERROR");
  });
});

describe("MESSAGE_MAX_LENGTH", () => {
  test("a configured limit applies to sends and edits alike", async () => {
    const small = await startService({ MESSAGE_MAX_LENGTH: "10" });
    try {
      await small.syncUsers("ann", "bob");
      const ann = await small.as("ann");
      const id = (await ann.post("/api/conversations", { type: "direct", participantIds: ["bob"] })).body.id;
      const ok = await ann.post(`/api/conversations/${id}/messages`, { content: "ñ😀ab€xyz🎉!" });
      expect(ok.status).toBe(201);
      const tooLong = await ann.post(`/api/conversations/${id}/messages`, { content: "ñ😀ab€xyz🎉!?" });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ path: "/content" }] });
      expect((await ann.patch(`/api/messages/${ok.body.id}`, { content: "0123456789" })).status).toBe(200);
      expect((await ann.patch(`/api/messages/${ok.body.id}`, { content: "01234567890" })).status).toBe(400);
      expect((await ann.get(`/api/messages/${ok.body.id}`)).body.content).toBe("0123456789");
    } finally {
      await small.stop();
    }
  });
});

describe("reading one message", () => {
  test("participants read it; outsiders, unknown and malformed ids do not", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "hi" });
    expect((await as("own").get(`/api/messages/${message.id}`)).body).toEqual(message);
    expectError(await as("out").get(`/api/messages/${message.id}`), 404, "NOT_FOUND");
    expectError(await as("own").get(`/api/messages/${UNKNOWN_ID}`), 404, "NOT_FOUND");
    expectError(await as("own").get("/api/messages/123"), 400, "VALIDATION_ERROR");
    // An outsider cannot tell an existing message from a missing one.
    expect((await as("out").get(`/api/messages/${message.id}`)).body).toEqual((await as("out").get(`/api/messages/${UNKNOWN_ID}`)).body);
  });
});

describe("editing", () => {
  test("the sender edits: 200 with isEdited, editedAt and a newer updatedAt", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "teh typo" });
    await Bun.sleep(5);
    const res = await as("mem").patch(`/api/messages/${message.id}`, { content: "the typo" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: message.id, seq: 1, content: "the typo", isEdited: true, isDeleted: false, createdAt: message.createdAt });
    expect(res.body.editedAt).toMatch(ISO_MS);
    expect(res.body.updatedAt).toBe(res.body.editedAt);
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThan(Date.parse(message.updatedAt));
    expect((await as("mia").get(`/api/messages/${message.id}`)).body).toEqual(res.body);
  });

  test("the same content again changes nothing", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "stable" });
    const res = await as("mem").patch(`/api/messages/${message.id}`, { content: "stable" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(message);
  });

  test("only the sender edits: not the owner, not an admin (403), not an outsider (404)", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "mine" });
    for (const who of ["own", "adm", "mia"]) expectError(await as(who).patch(`/api/messages/${message.id}`, { content: "theirs" }), 403, "FORBIDDEN");
    expectError(await as("out").patch(`/api/messages/${message.id}`, { content: "theirs" }), 404, "NOT_FOUND");
    expect((await as("mem").get(`/api/messages/${message.id}`)).body.content).toBe("mine");
  });

  test("invalid edits are 400 and change nothing; a message with attachments may lose its text", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "text" });
    for (const body of [{}, { content: "" }, { content: "  " }, { content: 5 }, { content: "x".repeat(4001) }, { content: "nul\u0000" }]) {
      expectError(await as("mem").patch(`/api/messages/${message.id}`, body), 400, "VALIDATION_ERROR");
    }
    expectError(await as("mem").patch("/api/messages/nope", { content: "x" }), 400, "VALIDATION_ERROR");
    expectError(await as("mem").patch(`/api/messages/${UNKNOWN_ID}`, { content: "x" }), 404, "NOT_FOUND");
    expect((await as("mem").get(`/api/messages/${message.id}`)).body).toEqual(message);

    const photo = await send("mem", id, { content: "caption", attachments: [{ url: "https://cdn.example.com/p.jpg" }] });
    expect((await as("mem").patch(`/api/messages/${photo.id}`, { content: "" })).body).toMatchObject({ content: "", isEdited: true });
  });

  test("a deleted message cannot be edited (409)", async () => {
    const id = await team();
    const message = await send("mem", id, { content: "soon gone" });
    await as("mem").delete(`/api/messages/${message.id}`);
    expectError(await as("mem").patch(`/api/messages/${message.id}`, { content: "back" }), 409, "CONFLICT");
  });
});

describe("deleting", () => {
  test("the sender deletes: 204, and the message stays as a tombstone in its place", async () => {
    const id = await team();
    const before = await send("mem", id, { content: "before" });
    const doomed = await send("mem", id, {
      content: "secret",
      attachments: [{ url: "https://cdn.example.com/s.png" }],
      replyTo: before.id,
      clientMessageId: "doomed-1",
      metadata: { mentions: ["mia"], preview: { url: "https://example.com/secret" } },
    });
    await as("mia").post(`/api/messages/${doomed.id}/reactions`, { emoji: "👍" });
    const after = await send("mem", id, { content: "after" });

    const res = await as("mem").delete(`/api/messages/${doomed.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();

    const tombstone = (await as("mia").get(`/api/messages/${doomed.id}`)).body;
    expect(tombstone).toMatchObject({ id: doomed.id, seq: 2, senderId: "mem", content: "", attachments: [], reactions: [], isDeleted: true, replyTo: before.id });
    // Metadata often holds mentions and link previews: it goes with the content. The client id stays for retries.
    expect(tombstone.metadata).toEqual({});
    expect(tombstone.clientMessageId).toBe("doomed-1");
    expect(tombstone.deletedAt).toMatch(ISO_MS);
    expect(tombstone.updatedAt).toBe(tombstone.deletedAt);
    expect((await history(id)).map((m: { id: string; isDeleted: boolean }) => [m.id, m.isDeleted])).toEqual([
      [before.id, false],
      [doomed.id, true],
      [after.id, false],
    ]);
    // Deleting it again is answered the same way and changes nothing.
    expect((await as("mem").delete(`/api/messages/${doomed.id}`)).status).toBe(204);
    expect((await as("mia").get(`/api/messages/${doomed.id}`)).body).toEqual(tombstone);
  });

  test("the owner or an admin deletes anyone's message; another member may not (403)", async () => {
    const id = await team();
    const first = await send("mem", id, { content: "one" });
    const second = await send("mem", id, { content: "two" });
    expectError(await as("mia").delete(`/api/messages/${first.id}`), 403, "FORBIDDEN");
    expectError(await as("out").delete(`/api/messages/${first.id}`), 404, "NOT_FOUND");
    expect((await as("mia").get(`/api/messages/${first.id}`)).body.isDeleted).toBe(false);
    expect((await as("own").delete(`/api/messages/${first.id}`)).status).toBe(204);
    expect((await as("adm").delete(`/api/messages/${second.id}`)).status).toBe(204);
    expect((await history(id)).every((m: { isDeleted: boolean }) => m.isDeleted)).toBe(true);
  });

  test("in a direct conversation only the sender deletes", async () => {
    const direct = (await as("mem").post("/api/conversations", { type: "direct", participantIds: ["mia"] })).body;
    const message = await send("mem", direct.id, { content: "just us" });
    expectError(await as("mia").delete(`/api/messages/${message.id}`), 403, "FORBIDDEN");
    expect((await as("mem").delete(`/api/messages/${message.id}`)).status).toBe(204);
  });

  test("malformed and unknown ids", async () => {
    expectError(await as("mem").delete("/api/messages/zzz"), 400, "VALIDATION_ERROR");
    expectError(await as("mem").delete(`/api/messages/${UNKNOWN_ID}`), 404, "NOT_FOUND");
  });
});
