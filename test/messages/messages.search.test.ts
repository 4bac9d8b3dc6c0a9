import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../src/core/db/client";
import { messages } from "../../src/core/db/schema";
import { matchesWords, searchQuery, searchWords } from "../../src/messages/search";
import { type ApiClient, serviceForTests } from "../helpers/service";

/** GET /api/search/messages: whole words of the caller's conversations, newest first. */
const svc = serviceForTests();

let n = 0;
/** Fresh users for one story, so that no other test's messages show up in its searches. */
async function people<const Names extends string[]>(...names: Names): Promise<{ [K in keyof Names]: ApiClient }> {
  const run = `${++n}${Math.random().toString(36).slice(2, 6)}`;
  const ids = names.map((name) => `${name}-s${run}`);
  await svc.syncUsers(...ids);
  return (await Promise.all(ids.map((id) => svc.as(id)))) as { [K in keyof Names]: ApiClient };
}

async function group(owner: ApiClient, ...others: ApiClient[]): Promise<string> {
  const res = await owner.post("/api/conversations", { type: "group", participantIds: others.map((o) => o.userId), name: "search" });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function send(who: ApiClient, conversationId: string, content: string) {
  const res = await who.post(`/api/conversations/${conversationId}/messages`, { content });
  expect(res.status).toBe(201);
  return res.body;
}

const search = (who: ApiClient, params: Record<string, string | number>) =>
  who.get(`/api/search/messages?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]))}`);

/** The contents found for `q`, newest first. */
async function found(who: ApiClient, q: string, extra: Record<string, string | number> = {}): Promise<string[]> {
  const res = await search(who, { q, ...extra });
  expect(res.status).toBe(200);
  return res.body.data.map((m: { content: string }) => m.content);
}

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

describe("matching", () => {
  test("case and accents are ignored, on both sides", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "Crème BRÛLÉE for dessert");
    await send(bob, id, "a naive resume");
    await send(bob, id, "Ærøskøbing straße Привет ΣΟΦΊΑ");
    expect(await found(bob, "creme brulee")).toEqual(["Crème BRÛLÉE for dessert"]);
    expect(await found(bob, "CRÈME brûlée")).toEqual(["Crème BRÛLÉE for dessert"]);
    expect(await found(ann, "naïve RÉSUMÉ")).toEqual(["a naive resume"]);
    expect(await found(ann, "aeroskobing strasse")).toEqual(["Ærøskøbing straße Привет ΣΟΦΊΑ"]);
    expect(await found(ann, "привет σοφια")).toEqual(["Ærøskøbing straße Привет ΣΟΦΊΑ"]);
    // Decomposed accents (e + combining acute) fold like precomposed ones.
    expect(await found(ann, "cre\u0300me")).toEqual(["Crème BRÛLÉE for dessert"]);
  });

  test("Greek final sigma is sigma: a capital word ending in Σ finds the lowercase one ending in ς, and back", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "ΚΟΣΜΟΣ");
    await send(ann, id, "Οδυσσέας ταξίδι");
    expect(await found(bob, "κόσμος")).toEqual(["ΚΟΣΜΟΣ"]);
    expect(await found(bob, "κοσμος")).toEqual(["ΚΟΣΜΟΣ"]);
    expect(await found(bob, "ΟΔΥΣΣΕΑΣ")).toEqual(["Οδυσσέας ταξίδι"]);
    expect(await found(bob, "οδυσσεας")).toEqual(["Οδυσσέας ταξίδι"]);
  });

  test("every word must match a whole word, in any order; the last one is a prefix from two characters on", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "hello world");
    await send(ann, id, "x marks the spot");
    await send(ann, id, "xylophone");
    expect(await found(ann, "hello world")).toEqual(["hello world"]);
    expect(await found(ann, "world hello")).toEqual(["hello world"]);
    expect(await found(ann, "hello wor")).toEqual(["hello world"]);
    expect(await found(ann, "hell world")).toEqual([]);
    expect(await found(ann, "hello mars")).toEqual([]);
    expect(await found(ann, "worlds")).toEqual([]);
    expect(await found(ann, "xy")).toEqual(["xylophone"]);
    // One character is a whole word, not a prefix.
    expect(await found(ann, "x")).toEqual(["x marks the spot"]);
  });

  test("punctuation separates words in content and query alike: e-mails, hosts and numbers are words", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "write to bob@example.com about v1.2.3");
    await send(ann, id, "<b>bold</b> & don't");
    expect(await found(ann, "example")).toEqual(["write to bob@example.com about v1.2.3"]);
    expect(await found(ann, "bob@example.com")).toEqual(["write to bob@example.com about v1.2.3"]);
    expect(await found(ann, "v1 2 3")).toEqual(["write to bob@example.com about v1.2.3"]);
    expect(await found(ann, "bold don")).toEqual(["<b>bold</b> & don't"]);
  });

  test("stop words are words like any other: nothing is stemmed or dropped", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "the running dogs");
    expect(await found(ann, "the")).toEqual(["the running dogs"]);
    expect(await found(ann, "run dogs")).toEqual([]);
    expect(await found(ann, "running dog")).toEqual(["the running dogs"]);
    expect(await found(ann, "dogs running th")).toEqual(["the running dogs"]);
    expect(await found(ann, "dog running")).toEqual([]);
  });

  test("an edit is searchable by its new words only; a deleted message never matches", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    const edited = await send(ann, id, "first draft");
    const deleted = await send(bob, id, "secret plans");
    await send(bob, id, "public plans");
    expect((await ann.patch(`/api/messages/${edited.id}`, { content: "final version" })).status).toBe(200);
    expect((await bob.delete(`/api/messages/${deleted.id}`)).status).toBe(204);
    expect(await found(ann, "draft")).toEqual([]);
    expect(await found(ann, "final")).toEqual(["final version"]);
    expect(await found(ann, "plans")).toEqual(["public plans"]);
    expect(await found(ann, "secret")).toEqual([]);
  });

  test("results are whole Messages, as GET /api/messages/:id returns them", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    const message = await send(ann, id, "react to this");
    expect((await bob.post(`/api/messages/${message.id}/reactions`, { emoji: "👍" })).status).toBe(201);
    const res = await search(bob, { q: "react" });
    expect(res.body).toEqual({ data: [(await bob.get(`/api/messages/${message.id}`)).body], hasMore: false, nextCursor: null });
    expect(res.body.data[0].reactions).toEqual([{ emoji: "👍", count: 1, userIds: [bob.userId] }]);
  });
});

describe("whose messages", () => {
  test("only conversations the caller is in; a conversationId of another conversation is 404", async () => {
    const [ann, bob, eve] = await people("ann", "bob", "eve");
    const ours = await group(ann, bob);
    const theirs = await group(eve, ann);
    expect((await ann.delete(`/api/conversations/${theirs}/participants/${ann.userId}`)).status).toBe(204);
    await send(ann, ours, "launch date is friday");
    await send(eve, theirs, "launch date is monday");
    expect(await found(bob, "launch date")).toEqual(["launch date is friday"]);
    expect(await found(eve, "launch date")).toEqual(["launch date is monday"]);
    expectError(await search(eve, { q: "launch", conversationId: ours }), 404, "NOT_FOUND");
    expectError(await search(eve, { q: "launch", conversationId: "018f0000-0000-7000-8000-000000000000" }), 404, "NOT_FOUND");
  });

  test("a removed participant no longer finds that conversation's messages", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "quarterly numbers attached");
    await send(bob, id, "my quarterly thoughts");
    expect(await found(bob, "quarterly")).toEqual(["my quarterly thoughts", "quarterly numbers attached"]);
    expect((await ann.delete(`/api/conversations/${id}/participants/${bob.userId}`)).status).toBe(204);
    expect(await found(bob, "quarterly")).toEqual([]);
    expectError(await search(bob, { q: "quarterly", conversationId: id }), 404, "NOT_FOUND");
    // Leaving does the same.
    const other = await group(ann, bob);
    await send(ann, other, "quarterly again");
    expect(await found(bob, "quarterly")).toEqual(["quarterly again"]);
    expect((await bob.delete(`/api/conversations/${other}/participants/${bob.userId}`)).status).toBe(204);
    expect(await found(bob, "quarterly")).toEqual([]);
  });

  test("filters: conversationId and senderId", async () => {
    const [ann, bob, cat] = await people("ann", "bob", "cat");
    const one = await group(ann, bob, cat);
    const two = await group(ann, bob);
    await send(ann, one, "budget from ann in one");
    await send(bob, one, "budget from bob in one");
    await send(bob, two, "budget from bob in two");
    expect(await found(ann, "budget", { conversationId: one })).toEqual(["budget from bob in one", "budget from ann in one"]);
    expect(await found(ann, "budget", { senderId: bob.userId })).toEqual(["budget from bob in two", "budget from bob in one"]);
    expect(await found(ann, "budget", { senderId: bob.userId, conversationId: one })).toEqual(["budget from bob in one"]);
    expect(await found(ann, "budget", { senderId: "nobody" })).toEqual([]);
    // cat is not in `two`: its messages are not hers to find, whoever sent them.
    expect(await found(cat, "budget", { senderId: bob.userId })).toEqual(["budget from bob in one"]);
  });

  test("a deleted user is 401 USER_NOT_FOUND", async () => {
    const [ann, bob] = await people("ann", "bob");
    await send(ann, await group(ann, bob), "anything");
    expect((await svc.internal("DELETE", `/api/users/${ann.userId}`)).status).toBe(204);
    expectError(await search(ann, { q: "anything" }), 401, "USER_NOT_FOUND");
  });
});

describe("the index", () => {
  test("the condition on the words is answered from the word index (its expression is the index's)", async () => {
    const [ann, bob] = await people("ann", "bob");
    await send(ann, await group(ann, bob), "indexed words only");
    const db = svc.app.ctx.db;
    const statement = db.select({ id: messages.id }).from(messages).where(matchesWords(searchWords("indexed wor")));
    // A table this small is read whole; with that and index scans off, only the word index's bitmap is left.
    const plan = await svc.app.ctx.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql`set local enable_indexscan = off`);
      return queryRows<Record<string, string>>(tx, sql`explain ${statement}`);
    });
    expect(plan.map((row) => Object.values(row)[0]).join("\n")).toContain("Bitmap Index Scan on messages_search_idx");
    expect(await found(bob, "indexed wor")).toEqual(["indexed words only"]);
  });
});

describe("statistics", () => {
  test("a conversation that grew by thousands is searched by the word index, not walked, once its statistics are fresh", async () => {
    const [ann, bob] = await people("ann", "bob");
    const conversationId = await group(ann, bob);
    const { ctx } = svc.app;
    await ctx.db.execute(sql`
      insert into messages (id, conversation_id, seq, sender_id, content)
      select gen_random_uuid(), ${conversationId}, g, ${ann.userId}, 'weekly sync notes number ' || g from generate_series(1, 16000) g`);
    await ctx.db.execute(sql`update conversations set last_seq = 16000 where id = ${conversationId}`);
    const plan = async () => {
      const rows = await queryRows<Record<string, string>>(ctx.db, sql`explain ${searchQuery(ctx.db, bob.userId, ["zzzz"], { conversationId })}`);
      return rows.map((row) => Object.values(row)[0]).join("\n");
    };
    // The embedded database has no autovacuum: the service analyzes what grew itself (on a timer;
    // called here so as not to wait for it). PostgreSQL's autovacuum does the same on its own time.
    if (ctx.storage.analyzeGrown) expect(await ctx.storage.analyzeGrown()).toContain("messages");
    else await ctx.db.execute(sql`analyze messages`);
    // A word no message has: walking the conversation newest first would read all 16,000.
    expect(await plan()).toContain("Bitmap Index Scan on messages_search_idx");
    expect(await found(bob, "zzzz", { conversationId })).toEqual([]);
    expect(await found(bob, "notes number 15999", { conversationId })).toEqual(["weekly sync notes number 15999"]);
  });
});

describe("paging", () => {
  test("newest first, a page at a time by cursor, until hasMore is false", async () => {
    const [ann, bob] = await people("ann", "bob");
    const one = await group(ann, bob);
    const two = await group(ann, bob);
    const sent: string[] = [];
    const id = (i: number) => sent[i]!;
    for (let i = 1; i <= 5; i++) {
      sent.push((await send(i % 2 ? ann : bob, i % 2 ? one : two, `standup note ${i}`)).id);
      await send(ann, one, `unrelated ${i}`);
    }
    const pages: string[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const res = await search(bob, { q: "standup", limit: 2, ...(cursor && { cursor }) });
      expect(res.status).toBe(200);
      pages.push(res.body.data.map((m: { id: string }) => m.id));
      if (!res.body.hasMore) {
        expect(res.body.nextCursor).toBeNull();
        break;
      }
      expect(res.body.nextCursor).toBe(res.body.data[1].id);
      cursor = res.body.nextCursor;
    }
    expect(pages).toEqual([
      [id(4), id(3)],
      [id(2), id(1)],
      [id(0)],
    ]);
    const all = await search(bob, { q: "standup" });
    expect(all.body).toMatchObject({ hasMore: false, nextCursor: null });
    expect(all.body.data.map((m: { id: string }) => m.id)).toEqual([...sent].reverse());
  });
});

describe("input", () => {
  test("q is 1–200 characters; limit, cursor and ids are validated", async () => {
    const [ann, bob] = await people("ann", "bob");
    await send(ann, await group(ann, bob), "limits");
    expectError(await ann.get("/api/search/messages"), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "" }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "a".repeat(201) }), 400, "VALIDATION_ERROR");
    expect((await search(ann, { q: "a".repeat(200) })).status).toBe(200);
    // Characters, not UTF-16 units: 200 emoji are 400 units.
    expect((await search(ann, { q: "😀".repeat(200) })).status).toBe(200);
    expectError(await search(ann, { q: "😀".repeat(201) }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "limits", limit: 0 }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "limits", limit: 101 }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "limits", cursor: "not-a-uuid" }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "limits", conversationId: "nope" }), 400, "VALIDATION_ERROR");
    expectError(await search(ann, { q: "limits", senderId: "bad id!" }), 400, "VALIDATION_ERROR");
    expect(await found(ann, "limits", { limit: 100 })).toEqual(["limits"]);
  });

  test("punctuation alone finds nothing; tsquery and SQL syntax is literal text, never an error", async () => {
    const [ann, bob] = await people("ann", "bob");
    const id = await group(ann, bob);
    await send(ann, id, "cats and dogs");
    await send(ann, id, "it's a b c");
    for (const q of ["!", "&", "|", ":*", "'", "''", '"', "()", "\\", "<->", "!!! ??? ...", " ", "\u0301", "*"]) {
      const res = await search(ann, { q });
      expect({ q, status: res.status, body: res.body }).toEqual({ q, status: 200, body: { data: [], hasMore: false, nextCursor: null } });
    }
    const cases: [string, string[]][] = [
      ["cats & dogs", ["cats and dogs"]],
      ["cats | birds", []],
      ["!cats", ["cats and dogs"]],
      ["cats:*", ["cats and dogs"]],
      ["'cats' 'dogs'", ["cats and dogs"]],
      ['"cats and"', ["cats and dogs"]],
      ["(cats) & (dogs)", ["cats and dogs"]],
      ["cats\\", ["cats and dogs"]],
      ["c\\ats", []],
      ["cats <-> dogs", ["cats and dogs"]],
      ["it's", ["it's a b c"]],
      ["'); drop table messages; --", []],
      ["' or 1=1 --", []],
      ["a & b | c", ["it's a b c"]],
    ];
    for (const [q, expected] of cases) expect({ q, found: await found(ann, q) }).toEqual({ q, found: expected });
    expect(await found(ann, "dogs")).toEqual(["cats and dogs"]);
  });
});
