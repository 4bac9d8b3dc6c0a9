/**
 * Persisted and delivered messages per second in 2-person and 10-person conversations, and
 * send→message:new latency at fractions of the maximum rate; against raw postgres.js inserts of
 * the same rows (one transaction per row, and batched) measured in the same run.
 */
import type { Socket } from "socket.io-client";
import { closeAll } from "../lib/clients";
import { rawInsertRate } from "../lib/raw-inserts";
import { maxRate, type Room, setupRooms } from "../lib/rooms";
import { cpuSeconds, startChatService, type ChatService } from "../lib/service";
import { sendCost } from "../lib/send-cost";
import { latencySummary, progress, progressDone, round } from "../lib/stats";
import { figure, type Figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

/**
 * Open loop at a fixed total rate; latency is send → message:new at the other members.
 * `drainMs`: how long deliveries are still counted after the last send.
 */
export async function latencyAt(rooms: Room[], sockets: Socket[], rate: number, seconds: number, drainMs: number) {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const senderSocketOf = new Map<string, Socket>();
  const handlers = sockets.map((s) => {
    const h = (m: { clientMessageId: string | null; senderId: string }) => {
      const t = m.clientMessageId ? sentAt.get(m.clientMessageId) : undefined;
      if (t !== undefined && s !== senderSocketOf.get(m.clientMessageId!)) latencies.push(performance.now() - t);
    };
    s.on("message:new", h);
    return h;
  });
  const lags: number[] = [];
  let lastTick = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lags.push(now - lastTick - 5);
    lastTick = now;
  }, 5);
  const started = performance.now();
  let sent = 0;
  let errors = 0;
  let refused = 0;
  const total = Math.floor(rate * seconds);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const room = rooms[sent % rooms.length]!;
      const id = `l${sent}-${started}`;
      sentAt.set(id, performance.now());
      senderSocketOf.set(id, room.sender);
      room.sender.timeout(10_000).emitWithAck("message:send", { conversationId: room.id, content: `x${sent}`, clientMessageId: id }).then(
        (r: { ok: boolean; error?: { code: string } }) => {
          if (r.ok) return;
          // The queue's answer to a backlog it cannot finish in time: retryable, nothing stored.
          if (r.error?.code === "UNAVAILABLE") refused++;
          else errors++;
        },
        () => errors++,
      );
    }
    await Bun.sleep(2);
  }
  const achieved = sent / ((performance.now() - started) / 1000);
  await Bun.sleep(drainMs);
  clearInterval(lagTimer);
  sockets.forEach((s, i) => s.off("message:new", handlers[i]));
  return { achieved, sent, errors, refused, ...latencySummary(latencies), generatorLagP99: latencySummary(lags).p99 };
}

async function runSize(service: ChatService, size: number, rooms: number, seconds: number, quick: boolean) {
  const { rooms: list, sockets } = await setupRooms(service, rooms, size, `p${size}`);
  try {
    progress(`${size}-person: measuring maximum rate for ${seconds} s`);
    const cpuBefore = await cpuSeconds(service.pid);
    const loadCpuBefore = process.cpuUsage();
    const started = performance.now();
    const max = await maxRate(list, sockets, seconds, size === 2 ? 4 : 8);
    // Over the whole call: it also waits for the last sends in flight and for their deliveries.
    const elapsed = (performance.now() - started) / 1000;
    const serviceCpu = ((await cpuSeconds(service.pid)) - cpuBefore) / elapsed;
    const loadUsed = process.cpuUsage(loadCpuBefore);
    const loadCpu = (loadUsed.user + loadUsed.system) / 1e6 / elapsed;
    progressDone();
    const latency: Record<string, ReturnType<typeof latencySummary> & { target: number; achieved: number; sent: number; errors: number; refused: number; generatorLagP99: number }> = {};
    // 75 %: just inside what open-loop traffic can be stored at (bench/RESULTS.md, "Why 2-person sends at 90 % of max queue").
    for (const fraction of quick ? [0.25, 0.5] : [0.25, 0.5, 0.75, 0.9]) {
      const target = Math.max(1, Math.floor(max.persisted * fraction));
      progress(`${size}-person: latency at ${fraction * 100}% (${target} msg/s)`);
      const r = await latencyAt(list, sockets, target, quick ? 1.5 : 8, quick ? 1000 : 2000);
      latency[`${fraction * 100}%`] = { target, ...r, achieved: round(r.achieved) };
      progressDone();
    }
    return { max, latency, serviceCpu, loadCpu, conversationIds: list.map((r) => r.id), senders: new Map(list.map((r) => [r.id, r.senderId])) };
  } finally {
    closeAll(sockets);
  }
}

/**
 * The latency rows: each fraction's p99 names the max rate it is a fraction of, and (above 25%)
 * is set against the p99 at 25% of the same max, same run. Refused sends (UNAVAILABLE: the backlog
 * was more than the service finishes in time) are named in the row: they are not in the p99.
 */
function latencyFigures(size: string, result: Awaited<ReturnType<typeof runSize>>): Figure[] {
  const max = round(result.max.persisted, 0);
  const reference = result.latency["25%"];
  return Object.entries(result.latency).map(([label, r]) => {
    const refused = r.refused ? `, ${r.refused} of ${r.sent} sends refused` : "";
    const metric = `${size} p99 at ${label} of max (${r.target} of ${max} msg/s${refused})`;
    const baseline = label === "25%" || !reference ? undefined : { value: reference.p99, label: `p99 at 25% of max (${reference.target} msg/s), same run` };
    return figure(metric, r.p99, "ms", baseline, false);
  });
}

export async function throughput({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const seconds = quick ? 3 : 10;
  const service = await startChatService();
  const notes: string[] = [];
  const figures: Figure[] = [];
  try {
    const two = await runSize(service, 2, quick ? 20 : 200, seconds, quick);
    const ten = await runSize(service, 10, quick ? 4 : 40, seconds, quick);

    const cost = await sendCost(service, quick);
    const costFigures = [
      figure(`send cost: group sends mentioning ${cost.mentioned} members, msg/s`, cost.mentions, "msg/s", { value: cost.plainGroup, label: "plain sends into the same groups" }),
      figure("send cost: direct sends with WEBHOOK_URL (outbox event + notification job), msg/s", cost.notified, "msg/s", { value: cost.plainDirect, label: "the same sends without webhooks" }),
    ];
    if (cost.failed) notes.push(`send cost: ${cost.failed} sends failed`);

    progress("baseline: raw postgres.js inserts");
    const rawSeconds = quick ? 2 : 8;
    const perRow = await rawInsertRate(service.databaseUrl, two.conversationIds, two.senders, { seconds: rawSeconds, connections: 10, batch: 1 });
    const batched = await rawInsertRate(service.databaseUrl, two.conversationIds, two.senders, { seconds: rawSeconds, connections: 10, batch: 100 });
    progressDone();

    const base1 = { value: round(perRow), label: "raw postgres.js, 1 tx per row" };
    const baseN = { value: round(batched), label: "raw postgres.js, 100 rows per tx" };
    figures.push(
      figure("2-person: persisted msg/s", round(two.max.persisted), "msg/s", base1),
      figure("2-person: persisted msg/s vs batched", round(two.max.persisted), "msg/s", baseN),
      figure("2-person: delivered msg/s", round(two.max.delivered), "deliveries/s"),
      figure("10-person: persisted msg/s", round(ten.max.persisted), "msg/s", base1),
      figure("10-person: delivered msg/s", round(ten.max.delivered), "deliveries/s"),
    );
    figures.push(...latencyFigures("2-person", two), ...latencyFigures("10-person", ten), ...costFigures);
    notes.push(`CPU during the 2-person max-rate phase: service ${round(two.serviceCpu, 2)} cores, load generator ${round(two.loadCpu, 2)} cores`);
    notes.push(
      `latency rows: open loop at a fraction of the 2-person (10-person) max rate measured above, p99 of send → message:new at the other members; reference: p99 at 25% of max, same run (ratio = that ÷ this, so 1 means no worse than at a quarter load)`,
    );
    for (const [size, r] of [["2-person", two], ["10-person", ten]] as const) {
      notes.push(`${size} load generator event-loop lag p99 by fraction: ${Object.entries(r.latency).map(([label, l]) => `${label} ${l.generatorLagP99} ms`).join(", ")}`);
    }
    notes.push(`latency detail: ${JSON.stringify({ "2-person": two.latency, "10-person": ten.latency })}`);
    if (two.max.failed || ten.max.failed) notes.push(`failed sends: ${two.max.failed + ten.max.failed}`);
    // Two cores shared by the service, the load generator, PostgreSQL and Redis: name who used them.
    const postgresShare = Math.max(0, 2 - two.serviceCpu - two.loadCpu);
    const bottleneck =
      two.loadCpu > 0.9
        ? "the load generator (one core busy running socket.io-client for every socket)"
        : two.serviceCpu > 0.9
          ? "the service's single JS thread"
          : `the machine's two cores, all in use: service ${round(two.serviceCpu, 2)}, load generator ${round(two.loadCpu, 2)}, PostgreSQL and Redis the remaining ~${round(postgresShare, 2)}`;
    return {
      scenario: "throughput",
      params: { seconds, pairs: two.conversationIds.length, groups: ten.conversationIds.length },
      figures,
      bottleneck,
      notes,
    };
  } finally {
    await service.stop();
  }
}
