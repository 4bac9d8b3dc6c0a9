/**
 * What mention counters and notification jobs add to the send path: closed-loop persisted rates of
 * sends that carry them against the same sends without them, measured one after the other.
 *
 * - Mentions: group sends naming every other member (a mention index row per mentioned member,
 *   checked against the participants) against plain sends into the same groups.
 * - Notification jobs: direct sends to a member with no socket, on a service with WEBHOOK_URL set
 *   (each message writes a `message.created` outbox event and a notification job in its
 *   transaction), against the same sends on the service without webhooks. The webhook drainer
 *   and the notification worker are held off (long intervals) so that only the send path counts.
 */
import type { Socket } from "socket.io-client";
import { closeAll, connectMany } from "./clients";
import { type ChatService, startChatService } from "./service";
import { progress, progressDone, round } from "./stats";

type SendRoom = { id: string; sender: Socket; others: string[] };

async function senderRooms(service: ChatService, rooms: number, size: number, tag: string): Promise<SendRoom[]> {
  const users = Array.from({ length: rooms * size }, (_, i) => `${tag}-${i}`);
  await service.syncUsers(users);
  const ids: string[] = [];
  for (let r = 0; r < rooms; r++) {
    const members = users.slice(r * size, (r + 1) * size);
    const res = await service.api(await service.token(members[0]!), "POST", "/api/conversations", {
      type: size === 2 ? "direct" : "group",
      participantIds: members.slice(1),
    });
    if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(res.body.id);
  }
  // Only senders connect: the others have no socket (a notification's recipients).
  const tokens = await Promise.all(ids.map((_, r) => service.token(users[r * size]!)));
  const { sockets } = await connectMany(service.url, tokens, 50, `${tag} senders`);
  return ids.map((id, r) => ({ id, sender: sockets[r]!, others: users.slice(r * size + 1, (r + 1) * size) }));
}

/** Persisted sends per second with `window` unacknowledged per room, for `seconds`. */
async function closedLoop(rooms: SendRoom[], seconds: number, window: number, payload: (room: SendRoom, n: number) => object): Promise<{ rate: number; failed: number }> {
  let acked = 0;
  let failed = 0;
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    rooms.flatMap((room) =>
      Array.from({ length: window }, async () => {
        while (performance.now() < end) {
          const res = await room.sender
            .timeout(10_000)
            .emitWithAck("message:send", { conversationId: room.id, ...payload(room, n++) })
            .catch(() => ({ ok: false }));
          if (res.ok) acked++;
          else failed++;
        }
      }),
    ),
  );
  return { rate: acked / ((performance.now() - started) / 1000), failed };
}

export type SendCost = {
  plainGroup: number;
  mentions: number;
  plainDirect: number;
  notified: number;
  mentioned: number;
  failed: number;
};

/** Runs on `service` (no webhooks) and on a second service with WEBHOOK_URL set. */
export async function sendCost(service: ChatService, quick: boolean): Promise<SendCost> {
  const seconds = quick ? 1 : 5;
  const rooms = quick ? 5 : 50;
  const window = 4;
  const groupSize = 4;
  const sink = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  const hooked = await startChatService({
    WEBHOOK_URL: `http://127.0.0.1:${sink.port}/`,
    WEBHOOK_SECRET: "whsec_" + Buffer.from("bench-webhook-secret-0123456789abcdef").toString("base64"),
    NOTIFY_DELAY_MS: "3600000",
    WEBHOOK_DRAIN_INTERVAL_MS: "60000",
  });
  const opened: Socket[] = [];
  try {
    const groups = await senderRooms(service, rooms, groupSize, "cost-group");
    const direct = await senderRooms(service, rooms, 2, "cost-direct");
    const directHooked = await senderRooms(hooked, rooms, 2, "cost-hooked");
    opened.push(...[...groups, ...direct, ...directHooked].map((r) => r.sender));
    const plain = (_: SendRoom, n: number) => ({ content: `plain ${n}` });
    const withMentions = (room: SendRoom, n: number) => ({ content: `${room.others.map((u) => `@${u}`).join(" ")} ${n}`, mentions: room.others });

    // Alternated in short slices, so that a neighbour's load on the shared machine falls on both sides.
    const slices = quick ? 2 : 5;
    const slice = seconds / slices;
    const rates = { plainGroup: [] as number[], mentions: [] as number[], plainDirect: [] as number[], notified: [] as number[] };
    let failed = 0;
    const take = (into: number[], r: { rate: number; failed: number }) => {
      into.push(r.rate);
      failed += r.failed;
    };
    for (let i = 0; i < slices; i++) {
      progress(`send cost: plain vs ${groupSize - 1} @mentions in groups, no webhooks vs WEBHOOK_URL in direct conversations (${i + 1}/${slices})`);
      take(rates.plainGroup, await closedLoop(groups, slice, window, plain));
      take(rates.mentions, await closedLoop(groups, slice, window, withMentions));
      take(rates.plainDirect, await closedLoop(direct, slice, window, plain));
      take(rates.notified, await closedLoop(directHooked, slice, window, plain));
    }
    const mean = (values: number[]) => round(values.reduce((a, b) => a + b, 0) / values.length);
    progressDone();
    return {
      plainGroup: mean(rates.plainGroup),
      mentions: mean(rates.mentions),
      plainDirect: mean(rates.plainDirect),
      notified: mean(rates.notified),
      mentioned: groupSize - 1,
      failed,
    };
  } finally {
    closeAll(opened);
    await hooked.stop();
    sink.stop(true);
  }
}
