/**
 * `bun bench/send-latency.ts [checkout] [rate]`: the 2-person part of the throughput scenario on
 * its own, for comparing send-path variants back to back. Starts the service of `checkout`
 * (default: this one), measures the closed-loop maximum over 200 pairs, then the open-loop p99 of
 * send → message:new at 25, 50, 75 and 90 % of `rate` msg/s (default: that maximum), so that every
 * variant is measured at the same offered loads. Prints one JSON line.
 */
import { resolve } from "node:path";

const root = resolve(process.argv[2] ?? new URL("..", import.meta.url).pathname);
const fixedRate = process.argv[3] ? Number(process.argv[3]) : undefined;
if (process.argv.includes("--help") || (fixedRate !== undefined && !(fixedRate > 0))) {
  console.log("Usage: bun bench/send-latency.ts [checkout] [rate msg/s]");
  process.exit(fixedRate === undefined ? 0 : 2);
}
const { startChatService } = await import(`${root}/bench/lib/service.ts`);
const { setupRooms, maxRate } = await import(`${root}/bench/lib/rooms.ts`);
const { latencyAt } = await import(`${root}/bench/scenarios/throughput.ts`);
const { closeAll } = await import(`${root}/bench/lib/clients.ts`);

const service = await startChatService();
try {
  const { rooms, sockets } = await setupRooms(service, 200, 2, "p2");
  const max = await maxRate(rooms, sockets, 10, 4);
  const rate = fixedRate ?? max.persisted;
  const result: Record<string, unknown> = { checkout: root, max: Math.round(max.persisted), rate: Math.round(rate) };
  for (const fraction of [0.25, 0.5, 0.75, 0.9]) {
    const r = await latencyAt(rooms, sockets, Math.floor(rate * fraction), 8, 2000);
    result[`${fraction * 100}%`] = { p50: r.p50, p99: r.p99, max: r.max, sent: r.sent, refused: r.refused, errors: r.errors };
  }
  console.log(JSON.stringify(result));
  closeAll(sockets);
} finally {
  await service.stop();
}
process.exit(0);
