/**
 * One instance holding many idle authenticated sockets (BENCH_HOLD_SOCKETS, 50,000 by default)
 * while 2-person conversations send: how fast the sockets connect, what each costs in service
 * memory, and what holding them does to the maximum send rate and to send→message:new latency at
 * 25 % of it. Baselines from the same run: raw Bun.serve websockets held by the same load
 * generator (connect rate, RSS per socket), and the same instance before the idle sockets connect
 * (max rate, p99, CPU while idle).
 *
 * Idle users are real: synced through the internal batch API, each in one direct conversation
 * with another idle user, so that every connect authenticates, looks the user up and joins a
 * conversation room, as a signed-in app in the background does. The sockets are opened by
 * several load-generator processes (hold-worker.ts), over both of the service's ports.
 */
import { startBaselineWsServer } from "../lib/baseline-server";
import { closeAll } from "../lib/clients";
import { holdSockets } from "../lib/hold-generators";
import { cpuSecondsOf, freePort, hardFileLimit, rssBytes, startChatService, type ChatService } from "../lib/service";
import { latencySummary, pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";
import { maxRate, type Room, setupRooms } from "../lib/rooms";
import { latencyAt } from "./throughput";

/** Descriptors a process keeps for everything but the held sockets (database, Redis, senders, files). */
const RESERVE_FDS = 1000;
/** Sockets per load-generator process: within its file limit, and a few processes share the connecting. */
const PER_PROCESS = 12_500;
/** Connections to one destination address and port before its ephemeral ports (32768–60999) run short. */
const PER_DESTINATION = 25_000;

async function cpuOver(pids: number[], seconds: number): Promise<number> {
  const before = await cpuSecondsOf(pids);
  await Bun.sleep(seconds * 1000);
  return ((await cpuSecondsOf(pids)) - before) / seconds;
}

/**
 * Reads a user's presence (JWT check, the store's main Redis connection, two queries) every 100 ms
 * for `seconds`: a stall of the service's event loop or of its store connection shows in the max.
 */
async function probePresence(service: ChatService, token: string, userId: string, seconds: number) {
  const ms: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    const res = await service.api(token, "GET", `/api/users/${userId}/presence`);
    if (res.status !== 200) throw new Error(`presence probe: ${res.status} ${JSON.stringify(res.body)}`);
    ms.push(performance.now() - t);
    await Bun.sleep(Math.max(0, 100 - (performance.now() - t)));
  }
  return latencySummary(ms);
}

/** Max rate, then latency at `target` msg/s (25 % of the first max rate measured). */
async function measureSends(rooms: Room[], sockets: Parameters<typeof maxRate>[1], quick: boolean, label: string, target?: number) {
  progress(`${label}: maximum 2-person rate`);
  const max = await maxRate(rooms, sockets, quick ? 3 : 10, 4);
  progressDone();
  const rate = target ?? Math.max(1, Math.floor(max.persisted * 0.25));
  // Long enough to contain one presence heartbeat (every PRESENCE_TTL_MS / 3 = 20 s) of every held socket.
  progress(`${label}: latency at ${rate} msg/s`);
  const latency = await latencyAt(rooms, sockets, rate, quick ? 2 : 25, 2000);
  progressDone();
  return { max, rate, latency };
}

export async function hold({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const requested = quick ? 500 : Number(process.env.BENCH_HOLD_SOCKETS ?? 50_000);
  const notes: string[] = [];
  const fileLimit = await hardFileLimit();
  const count = Math.min(requested, fileLimit - RESERVE_FDS);
  if (count < requested) {
    notes.push(`asked for ${requested} sockets, held ${count}: one process may open at most ${fileLimit} files here (hard RLIMIT_NOFILE, which only CAP_SYS_RESOURCE can raise), and every socket is one`);
  }
  const processes = Math.max(1, Math.ceil(count / Math.min(PER_PROCESS, fileLimit - RESERVE_FDS)));
  // Past two destinations' worth, the servers listen on every address so 127.0.0.2 … can be used.
  const addresses = Array.from({ length: Math.ceil(count / (2 * PER_DESTINATION)) }, (_, i) => `127.0.0.${i + 1}`);
  const host = addresses.length > 1 ? "0.0.0.0" : "127.0.0.1";

  // Baseline: raw Bun.serve websockets, the same load generator, before the service competes for the CPU.
  const rawPorts = [await freePort(), await freePort()];
  const rawServers = await Promise.all(rawPorts.map((port) => startBaselineWsServer({ PORT: String(port), HOST: host })));
  const rawIdle = (await Promise.all(rawServers.map((s) => s.rss()))).reduce((a, b) => a + b, 0);
  const raw = await holdSockets({ mode: "raw", urls: addresses.flatMap((a) => rawPorts.map((p) => `ws://${a}:${p}`)), count, processes, prefix: "raw", label: "baseline: raw websockets" });
  await Bun.sleep(1000);
  const rawHeld = (await Promise.all(rawServers.map((s) => s.rss()))).reduce((a, b) => a + b, 0);
  raw.stop();
  for (const s of rawServers) s.stop();

  const wsPort = await freePort();
  const service = await startChatService({ HOST: host, WS_PORT: String(wsPort) });
  let held: Awaited<ReturnType<typeof holdSockets>> | undefined;
  let senders: Awaited<ReturnType<typeof setupRooms>> | undefined;
  try {
    const port = new URL(service.url).port;
    senders = await setupRooms(service, quick ? 20 : 200, 2, "pair");
    const before = await measureSends(senders.rooms, senders.sockets, quick, "no idle sockets");
    const probeToken = await service.token(senders.users[0]!);
    const probeUser = senders.users[1]!;
    const idleSeconds = quick ? 1 : 25;
    const [cpuIdleBefore, probeBefore] = await Promise.all([cpuOver([service.pid], idleSeconds), probePresence(service, probeToken, probeUser, idleSeconds)]);

    const users = await idleUsers(service, count);
    await Bun.sleep(500);
    const rssBefore = await rssBytes(service.pid);
    held = await holdSockets({ mode: "lite", urls: addresses.flatMap((a) => [port, wsPort].map((p) => `http://${a}:${p}`)), count, processes, prefix: users, label: "idle sockets" });
    if (held.failed) notes.push(`${held.failed} idle sockets failed to connect`);
    await Bun.sleep(2000);
    const rssHeld = await rssBytes(service.pid);
    // Engine.IO pings (every 25 s per socket) and the presence heartbeat (every 20 s) while nothing else happens.
    const [cpuIdleHolding, probeHolding] = await Promise.all([cpuOver([service.pid], idleSeconds), probePresence(service, probeToken, probeUser, idleSeconds)]);
    const generatorCpu = await cpuOver(held.pids, quick ? 1 : 5);

    const during = await measureSends(senders.rooms, senders.sockets, quick, `holding ${held.opened} sockets`, before.rate);
    const alive = await held.alive();
    if (alive !== held.opened) notes.push(`${held.opened - alive} idle sockets dropped while held`);

    const perSocket = (rssHeld - rssBefore) / held.opened;
    const rawPerSocket = (rawHeld - rawIdle) / raw.opened;
    const NO_IDLE = "same instance, no idle sockets";
    notes.push(`load generator: ${held.processes} processes (hold-worker.ts), ${round(generatorCpu, 2)} cores while holding; destinations ${addresses.join(", ")} × ports ${port}, ${wsPort}`);
    notes.push(`service RSS ${round(rssBefore / 2 ** 20)} MiB before the idle sockets, ${round(rssHeld / 2 ** 20)} MiB holding ${held.opened}`);
    notes.push(`service CPU while idle: ${round(cpuIdleBefore, 3)} cores without, ${round(cpuIdleHolding, 3)} cores holding ${held.opened} sockets`);
    notes.push(`presence reads every 100 ms while idle: ${JSON.stringify({ before: probeBefore, holding: probeHolding })}`);
    notes.push(`latency detail: ${JSON.stringify({ before: { ...before.latency, rate: before.rate }, holding: { ...during.latency, rate: during.rate } })}`);
    if (before.max.failed || during.max.failed) notes.push(`failed sends at max rate: ${before.max.failed} before, ${during.max.failed} holding`);
    const fraction = during.max.persisted > 0 ? round((before.rate / during.max.persisted) * 100) : 0;
    return {
      scenario: "hold",
      params: { requestedSockets: requested, sockets: count, generatorProcesses: held.processes, pairs: senders.rooms.length, idleConversations: Math.floor(count / 2) },
      figures: [
        figure("idle sockets held", alive, "sockets", { value: raw.opened, label: "raw Bun.serve websockets, same generator" }),
        figure("connect rate", round(held.opened / held.seconds), "sockets/s", { value: round(raw.opened / raw.seconds), label: "raw Bun.serve websockets, same generator" }),
        figure("service RSS per held socket", round(perSocket / 1024, 2), "KiB", { value: round(rawPerSocket / 1024, 2), label: "raw Bun.serve websocket" }, false),
        figure("service CPU while holding, no sends", round(cpuIdleHolding, 3), "cores", { value: round(cpuIdleBefore, 3), label: NO_IDLE }, false),
        figure("presence read max latency while holding, no sends", probeHolding.max, "ms", { value: probeBefore.max, label: NO_IDLE }, false),
        figure("2-person max persisted msg/s while holding", round(during.max.persisted), "msg/s", { value: round(before.max.persisted), label: NO_IDLE }),
        figure(`2-person p99 at ${before.rate}/s while holding (goal < 50 ms)`, during.latency.p99, "ms", { value: before.latency.p99, label: `${NO_IDLE}, 25 % of its max` }, false),
      ],
      bottleneck: `${count < requested ? `sockets held: the open-file hard limit of one process (${fileLimit}); ` : ""}latency: ${before.rate} msg/s is 25 % of the max without idle sockets and ${fraction} % of the max while holding, and holding costs the idle service ${round(cpuIdleHolding - cpuIdleBefore, 3)} cores (Engine.IO pings, presence heartbeat) that sends share`,
      notes,
    };
  } finally {
    held?.stop();
    if (senders) closeAll(senders.sockets);
    await service.stop();
  }
}

/** Syncs `count` idle users and pairs them into direct conversations; returns their id prefix. */
async function idleUsers(service: ChatService, count: number): Promise<string> {
  const prefix = "idle";
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  progress(`syncing ${count} idle users`);
  await service.syncUsers(ids);
  const pairs = Array.from({ length: Math.floor(count / 2) }, (_, i) => 2 * i);
  let done = 0;
  await pool(pairs, 16, async (a) => {
    const token = await service.token(ids[a]!);
    const res = await service.api(token, "POST", "/api/conversations", { type: "direct", participantIds: [ids[a + 1]!] });
    if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
    if (++done % 1000 === 0) progress(`idle conversations: ${done}/${pairs.length}`);
  });
  progressDone();
  return prefix;
}
