/**
 * Deliveries per second into one big room (every member connected), against Bun's native
 * websocket publish of the same bytes to the same number of raw clients, in the same run.
 */
import { openRawSocket, startBaselineWsServer } from "../lib/baseline-server";
import { closeAll, connectMany } from "../lib/clients";
import { cpuSeconds, startChatService } from "../lib/service";
import { pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

export async function fanout({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const members = quick ? 100 : Number(process.env.BENCH_ROOM_SIZE ?? 1000);
  const messages = quick ? 20 : 200;
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
    const { sockets } = await connectMany(service.url, tokens, 100, "big room");
    try {
      const expected = members * messages;
      let delivered = 0;
      let firstPacket: unknown;
      const allDelivered = new Promise<void>((resolve) => {
        for (const s of sockets)
          s.on("message:new", (m: unknown) => {
            firstPacket ??= m;
            if (++delivered === expected) resolve();
          });
      });
      const sender = sockets[0]!;
      const cpuBefore = await cpuSeconds(service.pid);
      const started = performance.now();
      let sent = 0;
      await pool(Array.from({ length: messages }), 4, async () => {
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
      packetBytes = JSON.stringify(["message:new", firstPacket]).length + 2;
    } finally {
      closeAll(sockets);
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
        ? "the service's JS thread encoding and writing each packet per socket"
        : "the load generator receiving and decoding every delivery (one JS thread for all clients)",
    notes,
  };
}
