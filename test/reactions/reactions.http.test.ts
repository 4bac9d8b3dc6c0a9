import { beforeAll, describe, expect, test } from "bun:test";
import { type ApiClient, serviceForTests } from "../helpers/service";

const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, cat: ApiClient, eve: ApiClient;
let conversationId: string;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cat", "eve");
  [ann, bob, cat, eve] = [await svc.as("ann"), await svc.as("bob"), await svc.as("cat"), await svc.as("eve")];
  conversationId = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"] })).body.id;
}, 60_000);

async function message(content = "react to me"): Promise<string> {
  return (await ann.post(`/api/conversations/${conversationId}/messages`, { content })).body.id;
}
const react = (client: ApiClient, messageId: string, emoji: string) => client.post(`/api/messages/${messageId}/reactions`, { emoji });
const unreact = (client: ApiClient, messageId: string, emoji: string) => client.delete(`/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`);
const listed = async (messageId: string) => (await ann.get(`/api/messages/${messageId}/reactions`)).body.data;

describe("adding", () => {
  test("201 with the running total; the same reaction again is 200 and changes nothing", async () => {
    const id = await message();
    const first = await react(bob, id, "👍");
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ messageId: id, conversationId, emoji: "👍", userId: "bob", totalCount: 1 });
    const second = await react(cat, id, "👍");
    expect(second.status).toBe(201);
    expect(second.body.totalCount).toBe(2);
    const again = await react(bob, id, "👍");
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ messageId: id, conversationId, emoji: "👍", userId: "bob", totalCount: 2 });
    expect(await listed(id)).toEqual([{ emoji: "👍", count: 2, userIds: ["bob", "cat"] }]);
  });

  test("the list groups by emoji, in order of first use, and the message carries the same summary", async () => {
    const id = await message();
    await react(bob, id, "🎉");
    await react(ann, id, "👍");
    await react(cat, id, "🎉");
    await react(bob, id, "👍");
    const res = await ann.get(`/api/messages/${id}/reactions`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([
      { emoji: "🎉", count: 2, userIds: ["bob", "cat"] },
      { emoji: "👍", count: 2, userIds: ["ann", "bob"] },
    ]);
    expect((await cat.get(`/api/messages/${id}`)).body.reactions).toEqual(res.body.data);
  });

  test("a message without reactions lists none", async () => {
    const id = await message();
    expect((await bob.get(`/api/messages/${id}/reactions`)).body.data).toEqual([]);
  });

  test("a deleted message takes no reactions (409), and its old ones are gone", async () => {
    const id = await message();
    await react(bob, id, "👍");
    await ann.delete(`/api/messages/${id}`);
    const res = await react(cat, id, "👍");
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONFLICT");
    expect(await listed(id)).toEqual([]);
  });

  test("outsiders, unknown and malformed message ids", async () => {
    const id = await message();
    for (const [res, status, code] of [
      [await react(eve, id, "👍"), 404, "NOT_FOUND"],
      [await react(bob, UNKNOWN_ID, "👍"), 404, "NOT_FOUND"],
      [await react(bob, "nope", "👍"), 400, "VALIDATION_ERROR"],
      [await eve.get(`/api/messages/${id}/reactions`), 404, "NOT_FOUND"],
      [await unreact(eve, id, "👍"), 404, "NOT_FOUND"],
    ] as const) {
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status, code });
    }
    expect(await listed(id)).toEqual([]);
  });

  test("one user puts at most 25 different emojis on one message (409 after that)", async () => {
    const id = await message();
    const codes = Array.from({ length: 26 }, (_, i) => `:code_${i}:`);
    for (const code of codes.slice(0, 25)) expect((await react(bob, id, code)).status).toBe(201);
    const over = await react(bob, id, codes[25]!);
    expect(over.status).toBe(409);
    expect(await listed(id)).toHaveLength(25);
    // Others are not limited by bob's choices.
    expect((await react(cat, id, codes[25]!)).status).toBe(201);
  });
});

describe("emoji rules", () => {
  test("one emoji of any shape, or a :short_code:, is accepted as given", async () => {
    const id = await message();
    const accepted = [
      "👍",
      "👍🏽", // skin tone
      "👨‍👩‍👧‍👦", // ZWJ family
      "🏳️‍🌈", // ZWJ flag
      "🇫🇷", // regional-indicator flag
      "1️⃣", // keycap
      "❤️",
      "©️",
      ":thumbs_up:",
      ":+1:",
      ":a-b_c9:",
      `:${"x".repeat(32)}:`,
    ];
    for (const emoji of accepted) {
      const res = await react(bob, id, emoji);
      expect({ emoji, status: res.status, stored: res.body.emoji }).toEqual({ emoji, status: 201, stored: emoji });
    }
    expect((await listed(id)).map((r: { emoji: string }) => r.emoji)).toEqual(accepted);
  });

  test('a bare "❤" is stored as "❤️", so both count as one reaction', async () => {
    const id = await message();
    const bare = await react(bob, id, "❤");
    expect(bare.status).toBe(201);
    expect(bare.body.emoji).toBe("❤️");
    const qualified = await react(cat, id, "❤️");
    expect(qualified.body).toMatchObject({ emoji: "❤️", totalCount: 2 });
    expect(await listed(id)).toEqual([{ emoji: "❤️", count: 2, userIds: ["bob", "cat"] }]);
    expect((await react(bob, id, "❤️")).status).toBe(200);
    expect((await unreact(bob, id, "❤")).body).toMatchObject({ emoji: "❤️", totalCount: 1 });
  });

  test("two emojis, text, digits, and malformed short codes are 400 and stored nowhere", async () => {
    const id = await message();
    const refused = ["👍👍", "👍🎉", "hi", "a", "1", "#", "👍 ", " 👍", "", ":UPPER:", "::", ":no spaces:", `:${"x".repeat(33)}:`, "thumbs_up", ":a", "🇫", "x".repeat(65)];
    for (const emoji of refused) {
      const res = await react(bob, id, emoji);
      expect({ emoji, status: res.status, code: res.body?.error?.code }).toEqual({ emoji, status: 400, code: "VALIDATION_ERROR" });
    }
    expect((await react(bob, id, 42 as unknown as string)).status).toBe(400);
    expect((await bob.post(`/api/messages/${id}/reactions`, {})).status).toBe(400);
    expect(await listed(id)).toEqual([]);
  });
});

describe("removing", () => {
  test("DELETE with the emoji URL-encoded: 200 with the new total", async () => {
    const id = await message();
    for (const emoji of ["👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", ":+1:"]) {
      await react(bob, id, emoji);
      await react(cat, id, emoji);
      const res = await unreact(bob, id, emoji);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ messageId: id, conversationId, emoji, userId: "bob", totalCount: 1 });
    }
    expect((await listed(id)).every((r: { userIds: string[] }) => r.userIds.join() === "cat")).toBe(true);
  });

  test("a short code works unencoded in the path too", async () => {
    const id = await message();
    await react(bob, id, ":wave:");
    const res = await bob.delete(`/api/messages/${id}/reactions/:wave:`);
    expect(res.status).toBe(200);
    expect(res.body.totalCount).toBe(0);
  });

  test("removing a reaction the caller does not have is 200 and changes nothing", async () => {
    const id = await message();
    await react(cat, id, "🎉");
    const res = await unreact(bob, id, "🎉");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ emoji: "🎉", userId: "bob", totalCount: 1 });
    expect(await listed(id)).toEqual([{ emoji: "🎉", count: 1, userIds: ["cat"] }]);
  });

  test("the last reaction removed leaves the emoji out of the list", async () => {
    const id = await message();
    await react(bob, id, "🎉");
    expect((await unreact(bob, id, "🎉")).body.totalCount).toBe(0);
    expect(await listed(id)).toEqual([]);
    expect((await ann.get(`/api/messages/${id}`)).body.reactions).toEqual([]);
  });

  test("an invalid emoji in the path is 400", async () => {
    const id = await message();
    for (const emoji of ["hi", "👍👍", ":BAD:"]) {
      const res = await unreact(bob, id, emoji);
      expect({ emoji, status: res.status, code: res.body?.error?.code }).toEqual({ emoji, status: 400, code: "VALIDATION_ERROR" });
    }
  });
});
