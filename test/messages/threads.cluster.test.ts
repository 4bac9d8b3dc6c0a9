/**
 * Threads under contention on two real instances sharing one database and one Redis: replies to
 * one parent sent at once through REST and sockets on both, with and without deletions racing
 * them, leave the parent's counters exact and the conversation's seqs gapless.
 */
import { describe, expect, test } from "bun:test";
import { connectTo, groupOn, type Instance, restAs, usersOn, withTwoInstances } from "../helpers/instances";
import { ok } from "../helpers/realtime";
import { type ClientSocket, eventually, record } from "../helpers/sockets";

let a: Instance;
let b: Instance;
// Every send here is wanted: the per-user and per-socket budgets must not refuse any.
withTwoInstances((x, y) => {
  [a, b] = [x, y];
}, { RATE_LIMIT_MESSAGES: "10000", RATE_LIMIT_EVENTS: "10000" });

type Sender = (content: string, parentId: string | null) => Promise<any>;

/** Four people in a group: two send over REST (one per instance), two over sockets (one per instance). */
async function scene() {
  const [ann, bob, cat, dan] = await usersOn(a, "ann", "bob", "cat", "dan");
  const conversationId = await groupOn(a, ann!, [bob!, cat!, dan!]);
  const restA = await restAs(a, ann!);
  const restB = await restAs(b, bob!);
  const socketA = await connectTo(a, cat!);
  const socketB = await connectTo(b, dan!);
  const viaRest = (rest: Awaited<ReturnType<typeof restAs>>): Sender => async (content, parentId) => {
    const res = await rest.post(`/api/conversations/${conversationId}/messages`, { content, parentId });
    if (res.status !== 201) throw new Error(`reply over REST: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const viaSocket = (socket: ClientSocket): Sender => (content, parentId) => ok(socket, "message:send", { conversationId, content, parentId });
  const senders = [viaRest(restA), viaRest(restB), viaSocket(socketA), viaSocket(socketB)];
  const parent = await viaRest(restA)("question", null);
  return { conversationId, parent, senders, restA, restB, socketA, socketB };
}

/** Every message of the conversation, ascending seq, through the includeReplies pages. */
async function everything(rest: Awaited<ReturnType<typeof restAs>>, conversationId: string) {
  const all: any[] = [];
  let cursor: string | null = null;
  do {
    const res = await rest.get(`/api/conversations/${conversationId}/messages?includeReplies=true&limit=100${cursor ? `&before=${cursor}` : ""}`);
    all.unshift(...res.body.data);
    cursor = res.body.nextCursor;
  } while (cursor);
  return all;
}

const newestOf = <M extends { seq: number }>(messages: M[]): M => messages.reduce((x, y) => (x.seq > y.seq ? x : y));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("100 concurrent replies to one parent, on two instances", () => {
  test("over REST and sockets on both: replyCount 100, lastReplyAt of the newest, seqs gapless; both rooms hear 100", async () => {
    const { conversationId, parent, senders, restA, restB, socketA, socketB } = await scene();
    const heardA = record(socketA, "thread:updated");
    const heardB = record(socketB, "thread:updated");

    const replies = await Promise.all(range(0, 100).map((i) => senders[i % 4]!(`reply ${i}`, parent.id)));

    const newest = newestOf(replies);
    for (const rest of [restA, restB]) {
      const read = await rest.get(`/api/messages/${parent.id}`);
      expect({ replyCount: read.body.replyCount, lastReplyAt: read.body.lastReplyAt }).toEqual({ replyCount: 100, lastReplyAt: newest.createdAt });
    }
    const all = await everything(restB, conversationId);
    expect(all.map((m) => m.seq)).toEqual(range(1, 101));
    expect(replies.map((r) => r.seq).sort((x, y) => x - y)).toEqual(range(2, 100));

    // The thread page has them all in seq order; the top-level page has the parent alone.
    const thread = await restA.get(`/api/messages/${parent.id}/replies?limit=100`);
    expect(thread.body.data.map((m: any) => m.id)).toEqual([...replies].sort((x, y) => x.seq - y.seq).map((r) => r.id));
    expect(thread.body.hasMore).toBe(false);
    expect((await restA.get(`/api/conversations/${conversationId}/messages`)).body.data.map((m: any) => m.id)).toEqual([parent.id]);

    // Events may cross between instances; the highest count each room hears is the final one.
    for (const heard of [heardA, heardB]) {
      await eventually(() => heard.some((t) => t.replyCount === 100), 10_000, "thread:updated with 100");
      expect(heard.every((t) => t.conversationId === conversationId && t.parentId === parent.id && t.replyCount <= 100)).toBe(true);
    }
    expect(heardA.find((t) => t.replyCount === 100)!.lastReplyAt).toBe(newest.createdAt);
  }, 120_000);

  test("with deletions racing the sends: replyCount is the replies left, lastReplyAt the newest left", async () => {
    const { conversationId, parent, senders, restA, restB, socketA, socketB } = await scene();
    // Each reply's own sender deletes it, the same way and on the same instance as it was sent.
    const deleters = [
      (id: string) => restA.delete(`/api/messages/${id}`).then((r) => expect(r.status).toBe(204)),
      (id: string) => restB.delete(`/api/messages/${id}`).then((r) => expect(r.status).toBe(204)),
      (id: string) => ok(socketA, "message:delete", { messageId: id }),
      (id: string) => ok(socketB, "message:delete", { messageId: id }),
    ];
    const deleted = new Set<string>();
    const deletions: Promise<unknown>[] = [];
    // Every third reply is deleted the moment it is stored, while the others are still being sent.
    const replies = await Promise.all(
      range(0, 100).map(async (i) => {
        const reply = await senders[i % 4]!(`reply ${i}`, parent.id);
        if (i % 3 === 0) {
          deleted.add(reply.id);
          deletions.push(deleters[i % 4]!(reply.id));
        }
        return reply;
      }),
    );
    await Promise.all(deletions);

    const left = replies.filter((r) => !deleted.has(r.id));
    expect(left).toHaveLength(66);
    const read = await restB.get(`/api/messages/${parent.id}`);
    expect({ replyCount: read.body.replyCount, lastReplyAt: read.body.lastReplyAt }).toEqual({ replyCount: 66, lastReplyAt: newestOf(left).createdAt });
    const all = await everything(restA, conversationId);
    expect(all.map((m) => m.seq)).toEqual(range(1, 101));
    expect(all.filter((m) => m.isDeleted).map((m) => m.id).sort()).toEqual([...deleted].sort());
  }, 120_000);
});
