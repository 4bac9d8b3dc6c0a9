import { beforeAll, describe, expect, test } from "bun:test";
import { type ApiClient, serviceForTests } from "../helpers/service";

/**
 * Paging through a conversation of ten messages (seq 1..10) and one of 101. Pages are always in
 * ascending seq; nextCursor is the id to pass as `before` (from the newest page or a `before`
 * page) or as `after` (from an `after` page), and is null exactly when hasMore is false.
 */
const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, eve: ApiClient;
let ten: string;
let tenIds: string[] = [];
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "eve");
  [ann, bob, eve] = [await svc.as("ann"), await svc.as("bob"), await svc.as("eve")];
  ten = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body.id;
  for (let i = 1; i <= 10; i++) tenIds.push((await (i % 2 ? ann : bob).post(`/api/conversations/${ten}/messages`, { content: `m${i}` })).body.id);
}, 60_000);

type Page = { data: { id: string; seq: number }[]; hasMore: boolean; nextCursor: string | null };

async function page(conversationId: string, query = ""): Promise<Page> {
  const res = await ann.get(`/api/conversations/${conversationId}/messages${query ? `?${query}` : ""}`);
  expect(res.status).toBe(200);
  return res.body;
}
const seqsOf = (p: Page) => p.data.map((m) => m.seq);
const idOfSeq = (seq: number) => tenIds[seq - 1]!;

describe("the newest page", () => {
  test("without a cursor: the newest messages, ascending; everything fits in the default 50", async () => {
    const p = await page(ten);
    expect(seqsOf(p)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(p.hasMore).toBe(false);
    expect(p.nextCursor).toBeNull();
  });

  test("an empty conversation is an empty page", async () => {
    const empty = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body.id;
    expect(await page(empty)).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("at the exact boundary: limit 10 has nothing more, limit 9 has", async () => {
    expect(await page(ten, "limit=10")).toMatchObject({ hasMore: false, nextCursor: null });
    const nine = await page(ten, "limit=9");
    expect(seqsOf(nine)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(nine).toMatchObject({ hasMore: true, nextCursor: idOfSeq(2) });
  });

  test("limit 1 is the newest message", async () => {
    const one = await page(ten, "limit=1");
    expect(seqsOf(one)).toEqual([10]);
    expect(one).toMatchObject({ hasMore: true, nextCursor: idOfSeq(10) });
  });
});

describe("before and after", () => {
  test("walking back with before visits every message once and stops exactly at the start", async () => {
    const visited: number[][] = [];
    let p = await page(ten, "limit=3");
    visited.push(seqsOf(p));
    while (p.nextCursor) {
      p = await page(ten, `limit=3&before=${p.nextCursor}`);
      visited.push(seqsOf(p));
      expect(p.nextCursor === null).toBe(!p.hasMore);
    }
    expect(visited).toEqual([[8, 9, 10], [5, 6, 7], [2, 3, 4], [1]]);
  });

  test("before at an exact boundary has nothing more", async () => {
    const p = await page(ten, `limit=3&before=${idOfSeq(4)}`);
    expect(seqsOf(p)).toEqual([1, 2, 3]);
    expect(p).toMatchObject({ hasMore: false, nextCursor: null });
    expect(await page(ten, `before=${idOfSeq(1)}`)).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("walking forward with after visits every later message once and stops at the newest", async () => {
    const visited: number[][] = [];
    let p = await page(ten, `limit=4&after=${idOfSeq(1)}`);
    visited.push(seqsOf(p));
    while (p.nextCursor) {
      p = await page(ten, `limit=4&after=${p.nextCursor}`);
      visited.push(seqsOf(p));
    }
    expect(visited).toEqual([[2, 3, 4, 5], [6, 7, 8, 9], [10]]);
  });

  test("after at an exact boundary has nothing more; after the newest is empty", async () => {
    const p = await page(ten, `limit=3&after=${idOfSeq(7)}`);
    expect(seqsOf(p)).toEqual([8, 9, 10]);
    expect(p).toMatchObject({ hasMore: false, nextCursor: null });
    expect(await page(ten, `after=${idOfSeq(10)}`)).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("deleted messages keep their place as tombstones", async () => {
    const own = (await ann.post("/api/conversations", { type: "direct", participantIds: ["eve"] })).body.id;
    const ids: string[] = [];
    for (const content of ["a", "b", "c"]) ids.push((await ann.post(`/api/conversations/${own}/messages`, { content })).body.id);
    await ann.delete(`/api/messages/${ids[1]}`);
    const p = await page(own);
    expect(p.data.map((m: any) => [m.seq, m.isDeleted, m.content])).toEqual([
      [1, false, "a"],
      [2, true, ""],
      [3, false, "c"],
    ]);
  });
});

describe("a hundred and one messages", () => {
  let big: string;
  beforeAll(async () => {
    big = (await bob.post("/api/conversations", { type: "group", participantIds: ["ann"] })).body.id;
    for (let i = 0; i < 101; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, 101 - i) }, () => bob.post(`/api/conversations/${big}/messages`, { content: "bulk" })));
    }
  }, 60_000);

  test("limit 100 is the largest page; the one left over comes with before", async () => {
    const newest = await page(big, "limit=100");
    expect(seqsOf(newest)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(newest.hasMore).toBe(true);
    const rest = await page(big, `limit=100&before=${newest.nextCursor}`);
    expect(seqsOf(rest)).toEqual([1]);
    expect(rest).toMatchObject({ hasMore: false, nextCursor: null });
    const forward = await page(big, `limit=100&after=${rest.data[0]!.id}`);
    expect(forward).toMatchObject({ hasMore: false, nextCursor: null });
    expect(forward.data).toHaveLength(100);
  });

  test("the default page is the newest 50", async () => {
    const p = await page(big);
    expect(seqsOf(p)).toEqual(Array.from({ length: 50 }, (_, i) => i + 52));
    expect(p).toMatchObject({ hasMore: true, nextCursor: p.data[0]!.id });
  });
});

describe("bad paging requests", () => {
  test("limits outside 1..100, both cursors, malformed cursors: 400 VALIDATION_ERROR", async () => {
    const bad = ["limit=0", "limit=101", "limit=-5", "limit=abc", "limit=", `before=${idOfSeq(5)}&after=${idOfSeq(2)}`, "before=not-a-uuid", "after=123"];
    for (const query of bad) {
      const res = await ann.get(`/api/conversations/${ten}/messages?${query}`);
      expect({ query, status: res.status, code: res.body?.error?.code }).toEqual({ query, status: 400, code: "VALIDATION_ERROR" });
    }
  });

  test("a cursor that is not a message of this conversation is 404", async () => {
    const other = (await ann.post("/api/conversations", { type: "direct", participantIds: ["bob"] })).body.id;
    const foreign = (await ann.post(`/api/conversations/${other}/messages`, { content: "elsewhere" })).body.id;
    for (const query of [`before=${UNKNOWN_ID}`, `after=${UNKNOWN_ID}`, `before=${foreign}`, `after=${foreign}`]) {
      const res = await ann.get(`/api/conversations/${ten}/messages?${query}`);
      expect({ query, status: res.status, code: res.body?.error?.code }).toEqual({ query, status: 404, code: "NOT_FOUND" });
    }
  });

  test("an outsider cannot page through a conversation (404)", async () => {
    const res = await eve.get(`/api/conversations/${ten}/messages`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
    // A cursor of the conversation and one of no conversation get the same answer: outsiders learn nothing of it.
    const known = await eve.get(`/api/conversations/${ten}/messages?before=${idOfSeq(3)}`);
    const unknown = await eve.get(`/api/conversations/${ten}/messages?after=${UNKNOWN_ID}`);
    expect(known.status).toBe(404);
    expect(known.body).toEqual(res.body);
    expect(unknown.body).toEqual(res.body);
  });
});
