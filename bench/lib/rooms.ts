/**
 * Conversations of a fixed size with every member connected, and the closed-loop maximum send
 * rate into them (the throughput and cluster scenarios share these).
 */
import type { Socket } from "socket.io-client";
import { connectMany } from "./clients";
import type { ChatService } from "./service";

export type Room = { id: string; sender: Socket; senderId: string };

/**
 * `rooms` conversations of `size` members each, every member connected with socket.io-client;
 * member j of each room connects to `urls[j % urls.length]` (default: the service's own), so that
 * with two instances the members of a room sit on different ones.
 */
export async function setupRooms(service: ChatService, rooms: number, size: number, tag: string, urls: string[] = [service.url]) {
  const users = Array.from({ length: rooms * size }, (_, i) => `${tag}-${i}`);
  await service.syncUsers(users);
  const tokens = await Promise.all(users.map((u) => service.token(u)));
  const ids: string[] = [];
  for (let r = 0; r < rooms; r++) {
    const members = users.slice(r * size, (r + 1) * size);
    const res = await service.api(tokens[r * size]!, "POST", "/api/conversations", {
      type: size === 2 ? "direct" : "group",
      participantIds: members.slice(1),
    });
    if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(res.body.id);
  }
  const sockets: Socket[] = [];
  for (let j = 0; j < urls.length; j++) {
    const mine = tokens.map((t, i) => [t, i] as const).filter(([, i]) => (i % size) % urls.length === j);
    const { sockets: connected } = await connectMany(urls[j]!, mine.map(([t]) => t), 100, `${size}-person rooms${urls.length > 1 ? ` on instance ${j + 1}` : ""}`);
    mine.forEach(([, i], k) => (sockets[i] = connected[k]!));
  }
  const list: Room[] = ids.map((id, r) => ({ id, sender: sockets[r * size]!, senderId: users[r * size]! }));
  return { rooms: list, sockets, users };
}

/** Sends from every room's sender, keeping `window` unacknowledged, for `seconds`. */
export async function maxRate(rooms: Room[], sockets: Socket[], seconds: number, window: number) {
  let delivered = 0;
  const onNew = () => delivered++;
  for (const s of sockets) s.on("message:new", onNew);
  let acked = 0;
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  let n = 0;
  await Promise.all(
    rooms.flatMap((room) =>
      Array.from({ length: window }, async () => {
        while (performance.now() < end) {
          const res = await room.sender.timeout(10_000).emitWithAck("message:send", { conversationId: room.id, content: `m${n++}` }).catch(() => ({ ok: false }));
          if (res.ok) acked++;
          else failed++;
        }
      }),
    ),
  );
  const elapsed = (performance.now() - started) / 1000;
  await Bun.sleep(500);
  for (const s of sockets) s.off("message:new", onNew);
  // Each message reaches every member's socket, the sender's own included.
  return { persisted: acked / elapsed, delivered: delivered / elapsed, failed };
}
