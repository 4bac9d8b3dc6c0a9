/**
 * Deliveries per second into one big room (every member connected), against Bun's native
 * websocket publish of the same bytes to the same number of raw clients, in the same run.
 */
import { openRawSocket, startBaselineWsServer } from "../lib/baseline-server";
import { connectChatSocket } from "../lib/clients";
import { connectLite, type LiteSocket } from "../lib/lite-client";
import { cpuSeconds, startChatService } from "../lib/service";
import { pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

export async function fanout({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const members = quick ? 100 : Number(process.env.BENCH_ROOM_SIZE ?? 1000);
  const messages = quick ? 50 : 1000;
  const notes: string[] = [];
  const service = await startChatService();
  let ours: number;
  let packetBytes = 600;
  let serviceCpu = 0;
  try {
    const users = Array.from({ length: members }, (_, i) => `room-${i}`);
    await service.syncUsers(users);
    const tokens = await Promise.all(users.map((u) => service.token(u)));
    const created = await service.api(tokens[0]!, "POST", "/api/conversations", { type: "group", name: "big room", participantIds: users.slice(1) });
    if (created.status !== 201) throw new Error(`create room: ${created.status}`);
    const conversationId = created.body.id as string;
    // Receivers count frames without decoding them (see lite-client.ts); the sender is a real
    // socket.io-client, a second socket of the first member.
    const receivers: LiteSocket[] = [];
    await pool(tokens, 100, async (token) => {
      receivers.push(await connectLite(service.url, token));
      if (receivers.length % 250 === 0) progress(`big room: ${receivers.length}/${members} members connected`);
    });
    progressDone();
    const sender = await connectChatSocket(service.url, tokens[0]!);
    // Let the user:online announcements of the connect storm drain before measuring.
    await Bun.sleep(quick ? 1000 : 5000);
    try {
      const expected = members * messages;
      let delivered = 0;
      const allDelivered = new Promise<void>((resolve) => {
        for (const r of receivers)
          r.onFrame((frame) => {
            if (frame.startsWith('42["message:new"')) {
              packetBytes = frame.length;
              if (++delivered === expected) resolve();
            }
          });
      });
      const cpuBefore = await cpuSeconds(service.pid);
      const started = performance.now();
      let sent = 0;
      // Enough sends in flight that the send path (one statement at a time per conversation,
      // batching what waits) is not what limits the delivery rate.
      await pool(Array.from({ length: messages }), 128, async () => {
        const i = sent++;
        await sender.emitWithAck("message:send", { conversationId, content: `broadcast ${i} ${"x".repeat(40)}` });
        progress(`big room: ${delivered}/${expected} deliveries`);
      });
      await Promise.race([allDelivered, Bun.sleep(120_000)]);
      const seconds = (performance.now() - started) / 1000;
      serviceCpu = ((await cpuSeconds(service.pid)) - cpuBefore) / seconds;
      progressDone();
      ours = delivered / seconds;
      if (delivered < expected) notes.push(`only ${delivered} of ${expected} deliveries arrived within 120 s`);
    } finally {
      sender.close();
      for (const r of receivers) r.close();
    }
  } finally {
    await service.stop();
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
    raw[0]!.send(`pub:${messages}:${packetBytes}`);
    await Promise.race([done, Bun.sleep(60_000)]);
    base = delivered / ((performance.now() - started) / 1000);
    for (const ws of raw) ws.close();
  } finally {
    baseline.stop();
  }
  notes.push(`${members} members, ${messages} messages of ~${packetBytes} bytes on the wire; service CPU ${round(serviceCpu, 2)} cores`);
  return {
    scenario: "fanout",
    params: { members, messages },
    figures: [figure("big-room deliveries/s", round(ours), "deliveries/s", { value: round(base), label: "raw Bun websocket publish" })],
    bottleneck:
      serviceCpu > 0.9
        ? "the service's JS thread (the send path and encoding; writes to sockets are native)"
        : "the load generator receiving every delivery on one JS thread (both sides count frames without decoding)",
    notes,
  };
}
