/**
 * Membership: what one user's number of conversations costs, at 1, 1,000 and 10,000 (1 and 200
 * with --quick), each row against the same figure at 1 conversation in the same run: the time to
 * connect (until `connected`), the size of `connected` (which lists every conversation id, as
 * CONTRACT.md §5 requires), the service's memory per socket of that user (a socket joins a room
 * per conversation), and the first page of GET /api/conversations and GET /api/me/unread.
 * A reconnect of a mobile client is the connect plus `connected`: what it costs in bytes and ms.
 *
 * The conversations are inserted in SQL (each with a peer and three messages, two of them unread
 * by the user), as the service would have written them.
 */
import postgres from "postgres";
import { closeAll } from "../lib/clients";
import { connectLite, type LiteSocket } from "../lib/lite-client";
import { rssBytes, startChatService } from "../lib/service";
import { latencySummary, progress, progressDone, round } from "../lib/stats";
import { type Figure, figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

const PEER = "member-peer";

type Level = { conversations: number; connectP50: number; connectedBytes: number; rssPerSocketKiB: number; listP50: number; listBytes: number; meUnreadP50: number };

export async function membership({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const levels = quick ? [1, 200] : (process.env.BENCH_MEMBERSHIP_LEVELS ?? "1,1000,10000").split(",").map(Number);
  const connects = quick ? 5 : 20;
  const held = quick ? 5 : 20;
  const requests = quick ? 10 : 50;
  const service = await startChatService();
  const sql = postgres(service.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const users = levels.map((n) => `member-${n}`);
    await service.syncUsers([PEER, ...users]);
    const results: Level[] = [];
    for (const [index, count] of levels.entries()) {
      const userId = users[index]!;
      progress(`membership: ${count} conversations`);
      await seedConversations(sql, userId, count);
      const token = await service.token(userId);
      const timed = async (n: number, run: () => Promise<unknown>) => {
        for (let i = 0; i < 3; i++) await run();
        const ms: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          await run();
          ms.push(performance.now() - t);
        }
        return latencySummary(ms).p50;
      };
      let connectedBytes = 0;
      const connectP50 = await timed(connects, async () => {
        const socket = await connectLite(service.url, token);
        connectedBytes = socket.connectedBytes;
        socket.close();
      });
      await Bun.sleep(500);
      const idle = await rssBytes(service.pid);
      const sockets: LiteSocket[] = [];
      for (let i = 0; i < held; i++) sockets.push(await connectLite(service.url, token));
      await Bun.sleep(1000);
      const holding = await rssBytes(service.pid);
      closeAll(sockets);
      let listBytes = 0;
      const get = async (path: string) => {
        const res = await fetch(service.url + path, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.arrayBuffer();
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
        return body.byteLength;
      };
      const listP50 = await timed(requests, async () => void (listBytes = await get("/api/conversations?limit=20")));
      const meUnreadP50 = await timed(requests, () => get("/api/me/unread"));
      results.push({ conversations: count, connectP50, connectedBytes, rssPerSocketKiB: Math.max(0, (holding - idle) / held / 1024), listP50, listBytes, meUnreadP50 });
    }
    progressDone();

    const one = results[0]!;
    const at1 = (value: number) => ({ value: round(value, 2), label: "at 1 conversation, same run" });
    const figures: Figure[] = [];
    for (const level of results.slice(1)) {
      const n = `${level.conversations.toLocaleString("en-US")} conversations`;
      figures.push(
        figure(`connect until \`connected\`, p50, at ${n}`, round(level.connectP50, 2), "ms", at1(one.connectP50), false),
        figure(`\`connected\` payload at ${n}`, level.connectedBytes, "bytes", at1(one.connectedBytes), false),
        figure(`service RSS per socket at ${n}`, round(level.rssPerSocketKiB, 1), "KiB", at1(one.rssPerSocketKiB), false),
        figure(`GET /api/conversations (first 20) p50 at ${n}`, round(level.listP50, 2), "ms", at1(one.listP50), false),
        figure(`GET /api/me/unread p50 at ${n}`, round(level.meUnreadP50, 2), "ms", at1(one.meUnreadP50), false),
      );
    }
    const last = results.at(-1)!;
    return {
      scenario: "membership",
      params: { conversations: levels.join(" / "), connects, socketsHeld: held, requests },
      figures,
      bottleneck: "`connected` lists every conversation id (CONTRACT.md §5) and the socket joins a room per conversation: both grow with the user's conversations; the first page of the list and the unread totals read every participant row of the user",
      notes: [
        ...results.map((l) => `${l.conversations} conversations: connect p50 ${round(l.connectP50, 1)} ms, \`connected\` ${l.connectedBytes.toLocaleString("en-US")} bytes, RSS per socket ${round(l.rssPerSocketKiB, 1)} KiB, first page of the list ${l.listBytes.toLocaleString("en-US")} bytes in ${round(l.listP50, 1)} ms, /api/me/unread ${round(l.meUnreadP50, 1)} ms`),
        `a reconnect at ${last.conversations.toLocaleString("en-US")} conversations: ${round(last.connectP50, 1)} ms and ${last.connectedBytes.toLocaleString("en-US")} bytes of \`connected\` (uncompressed: the websocket carries no per-message deflate), before the client's own catch-up requests`,
      ],
    };
  } finally {
    await sql.end();
    await service.stop();
  }
}

/**
 * `count` group conversations of `userId` and the peer, each with three messages from the peer,
 * the user having read the first: counters as sends and a read would have left them.
 */
async function seedConversations(sql: postgres.Sql, userId: string, count: number) {
  await sql.begin(async (tx) => {
    await tx`
      create temp table seeded on commit drop as
      select gen_random_uuid() as id, clock_timestamp() - make_interval(secs => g) as at, g from generate_series(1, ${count}) g`;
    await tx`
      insert into conversations (id, type, name, created_by, member_count, created_at, updated_at, last_activity_at)
      select id, 'group', 'group ' || g, ${PEER}, 2, at, at, at from seeded`;
    await tx`
      insert into participants (conversation_id, user_id, role, joined_at, last_read_seq)
      select id, ${PEER}, 'owner', at, 3 from seeded
      union all select id, ${userId}, 'member', at, 1 from seeded`;
    await tx`
      insert into messages (id, conversation_id, seq, sender_id, content, created_at, updated_at)
      select (lpad(to_hex((extract(epoch from s.at) * 1000)::bigint + k), 12, '0') || '7' || substr(md5(s.id::text || k), 1, 3) || '8' || substr(md5(s.id::text || k), 4, 15))::uuid,
        s.id, k, ${PEER}, 'message ' || k, s.at + make_interval(secs => k / 1000.0), s.at + make_interval(secs => k / 1000.0)
      from seeded s, generate_series(1, 3) k`;
    await tx`
      update conversations c set last_seq = 3, last_message_id = m.id, last_message_at = m.created_at, last_activity_at = m.created_at
      from seeded s join messages m on m.conversation_id = s.id and m.seq = 3 where c.id = s.id`;
  });
  await sql`analyze conversations; analyze participants; analyze messages`.simple();
}
