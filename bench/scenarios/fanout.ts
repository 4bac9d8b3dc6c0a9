/**
 * Deliveries per second into one big room (every member connected), against Bun's native
 * websocket publish of the same bytes to the same number of raw clients, and against a minimal
 * Socket.IO server on Node.js doing the same broadcasts from memory, all in the same run.
 */
import { openRawSocket, startBaselineWsServer, startNodePeer } from "../lib/baseline-server";
import { broadcastInto, type RoomRun } from "../lib/broadcast";
import { mintBenchToken, startChatService } from "../lib/service";
import { pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

export async function fanout({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const members = quick ? 100 : Number(process.env.BENCH_ROOM_SIZE ?? 1000);
  const messages = quick ? 50 : 1000;
  const settleMs = quick ? 1000 : 5000;
  const notes: string[] = [];
  const users = Array.from({ length: members }, (_, i) => `room-${i}`);
  const tokens = await Promise.all(users.map(mintBenchToken));

  const service = await startChatService();
  let ours: RoomRun;
  try {
    await service.syncUsers(users);
    const created = await service.api(tokens[0]!, "POST", "/api/conversations", { type: "group", name: "big room", participantIds: users.slice(1) });
    if (created.status !== 201) throw new Error(`create room: ${created.status}`);
    ours = await broadcastInto("big room", [service.url], [service.pid], tokens, created.body.id, messages, settleMs);
  } finally {
    await service.stop();
  }

  const peer = await startNodePeer();
  let theirs: RoomRun;
  try {
    await peer.setRoom("big-room", users);
    theirs = await broadcastInto("node peer", [peer.url], [peer.pid], tokens, "big-room", messages, settleMs);
  } finally {
    peer.stop();
  }

  const baseline = await startBaselineWsServer();
  let base: number;
  try {
    const raw: WebSocket[] = [];
    await pool(Array.from({ length: members }), 100, async () => {
      raw.push(await openRawSocket(baseline.url, true));
    });
    const expected = members * messages;
    let delivered = 0;
    const done = new Promise<void>((resolve) => {
      for (const ws of raw)
        ws.onmessage = () => {
          if (++delivered === expected) resolve();
        };
    });
    const started = performance.now();
    raw[0]!.send(`pub:${messages}:${ours.packetBytes}`);
    await Promise.race([done, Bun.sleep(60_000)]);
    base = delivered / ((performance.now() - started) / 1000);
    for (const ws of raw) ws.close();
  } finally {
    baseline.stop();
  }
  if (ours.missing) notes.push(`service: ${ours.missing} of ${members * messages} deliveries missing after 120 s`);
  if (theirs.missing) notes.push(`Node peer: ${theirs.missing} of ${members * messages} deliveries missing after 120 s`);
  notes.push(`${members} members, ${messages} messages of ~${ours.packetBytes} bytes on the wire (peer ~${theirs.packetBytes}); service CPU ${round(ours.cpu, 2)} cores, Node peer ${round(theirs.cpu, 2)}`);
  return {
    scenario: "fanout",
    params: { members, messages },
    figures: [
      figure("big-room deliveries/s", round(ours.perSecond), "deliveries/s", { value: round(base), label: "raw Bun websocket publish" }),
      figure("big-room deliveries/s vs peer", round(ours.perSecond), "deliveries/s", { value: round(theirs.perSecond), label: "Node.js Socket.IO 4 peer (no storage)" }),
    ],
    bottleneck:
      ours.cpu > 0.9
        ? "the service's JS thread (the send path and encoding; writes to sockets are native)"
        : "the load generator receiving every delivery on one JS thread (both sides count frames without decoding)",
    notes,
  };
}
