/**
 * Baseline for message throughput: the same rows the service writes for a message (the
 * conversation's seq bump and the message row), inserted with raw postgres.js, no service.
 */
import postgres from "postgres";

export async function rawInsertRate(databaseUrl: string, conversationIds: string[], senderOf: Map<string, string>, opts: { seconds: number; connections: number; batch: number }): Promise<number> {
  const sql = postgres(databaseUrl, { max: opts.connections, onnotice: () => {} });
  let rows = 0;
  let next = 0;
  const end = performance.now() + opts.seconds * 1000;
  const content = "benchmark message body of a typical length, about sixty chars";
  const worker = async () => {
    while (performance.now() < end) {
      if (opts.batch === 1) {
        const conversationId = conversationIds[next++ % conversationIds.length]!;
        await sql.begin(async (tx) => {
          const [c] = await tx`update conversations set last_seq = last_seq + 1, last_message_at = clock_timestamp(), last_activity_at = clock_timestamp() where id = ${conversationId} returning last_seq`;
          await tx`insert into messages (id, conversation_id, seq, sender_id, content) values (${Bun.randomUUIDv7()}, ${conversationId}, ${c!.last_seq}, ${senderOf.get(conversationId)!}, ${content})`;
        });
        rows++;
      } else {
        const picks = Array.from({ length: opts.batch }, () => conversationIds[next++ % conversationIds.length]!);
        const counts = new Map<string, number>();
        for (const id of picks) counts.set(id, (counts.get(id) ?? 0) + 1);
        await sql.begin(async (tx) => {
          const values: { id: string; conversation_id: string; seq: number; sender_id: string; content: string }[] = [];
          for (const [conversationId, n] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
            const [c] = await tx`update conversations set last_seq = last_seq + ${n}, last_message_at = clock_timestamp(), last_activity_at = clock_timestamp() where id = ${conversationId} returning last_seq`;
            for (let i = n - 1; i >= 0; i--) values.push({ id: Bun.randomUUIDv7(), conversation_id: conversationId, seq: c!.last_seq - i, sender_id: senderOf.get(conversationId)!, content });
          }
          await tx`insert into messages ${tx(values)}`;
        });
        rows += opts.batch;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: opts.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  await sql.end();
  return rows / seconds;
}
