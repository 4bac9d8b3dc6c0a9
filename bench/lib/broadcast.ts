/** Big-room fan-out: deliveries per second into one room (the fanout and cluster scenarios share it). */
import { connectChatSocket } from "./clients";
import { connectLite, type LiteSocket } from "./lite-client";
import { cpuSecondsOf } from "./service";
import { pool, progress, progressDone } from "./stats";

export type RoomRun = { perSecond: number; packetBytes: number; cpu: number; missing: number };

/**
 * Connects every member to one of `urls` (member i to `urls[i % urls.length]`; receivers count frames without decoding them, see
 * lite-client.ts; the sender is a real socket.io-client, a second socket of the first member) and
 * sends `messages` into the room through the first, enough in flight that the send path is not
 * what limits delivery. `cpu` is what the processes `pids` used together, in cores.
 */
export async function broadcastInto(label: string, urls: string[], pids: number[], tokens: string[], conversationId: string, messages: number, settleMs: number): Promise<RoomRun> {
  const receivers: LiteSocket[] = [];
  await pool(tokens, 100, async (token, i) => {
    receivers.push(await connectLite(urls[i % urls.length]!, token));
    if (receivers.length % 250 === 0) progress(`${label}: ${receivers.length}/${tokens.length} members connected`);
  });
  progressDone();
  const sender = await connectChatSocket(urls[0]!, tokens[0]!);
  // Let the announcements of the connect storm drain before measuring.
  await Bun.sleep(settleMs);
  try {
    const expected = tokens.length * messages;
    let delivered = 0;
    let packetBytes = 600;
    const allDelivered = new Promise<void>((resolve) => {
      for (const r of receivers)
        r.onFrame((frame) => {
          if (frame.startsWith('42["message:new"')) {
            packetBytes = frame.length;
            if (++delivered === expected) resolve();
          }
        });
    });
    const cpuBefore = await cpuSecondsOf(pids);
    const started = performance.now();
    let sent = 0;
    await pool(Array.from({ length: messages }), 128, async () => {
      const i = sent++;
      await sender.emitWithAck("message:send", { conversationId, content: `broadcast ${i} ${"x".repeat(40)}` });
      progress(`${label}: ${delivered}/${expected} deliveries`);
    });
    await Promise.race([allDelivered, Bun.sleep(120_000)]);
    const seconds = (performance.now() - started) / 1000;
    const cpu = ((await cpuSecondsOf(pids)) - cpuBefore) / seconds;
    progressDone();
    return { perSecond: delivered / seconds, packetBytes, cpu, missing: expected - delivered };
  } finally {
    sender.close();
    for (const r of receivers) r.close();
  }
}
