/**
 * How many authenticated sockets the service holds, how fast they connect, and what each costs in
 * service memory, against raw Bun.serve websocket connections and against a minimal Socket.IO
 * server on Node.js (the peer a team would otherwise write), both measured in the same run; and
 * against the same minimal server on Socket.IO's Bun engine, which is what Socket.IO itself
 * retains per socket on Bun, the floor of the service's own figure; and against that connection
 * path speaking the protocol on Bun.serve websockets directly (lean-socketio-server.ts), what a
 * socket could cost without Socket.IO's server objects.
 */
import { openRawSocket, startBaselineWsServer, startBunSocketIo, startLeanSocketIo, startNodePeer } from "../lib/baseline-server";
import { closeAll, connectManyLite } from "../lib/clients";
import { cpuSeconds, cpuSecondsOfCommand, mintBenchToken, rssBytes, startChatService } from "../lib/service";
import { pool, progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

export async function connections({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const count = quick ? 200 : Number(process.env.BENCH_SOCKETS ?? 10_000);
  const concurrency = 100;
  const notes: string[] = [];

  // Baseline first, so the chat service's process is not yet competing for the CPU.
  const baseline = await startBaselineWsServer();
  const baseIdle = await baseline.rss();
  const raw: WebSocket[] = [];
  const rawStart = performance.now();
  await pool(Array.from({ length: count }), concurrency, async () => {
    raw.push(await openRawSocket(baseline.url));
    if (raw.length % 1000 === 0) progress(`baseline: ${raw.length}/${count} raw websockets`);
  });
  progressDone();
  const rawSeconds = (performance.now() - rawStart) / 1000;
  await Bun.sleep(1000);
  const baseHeld = await baseline.rss();
  for (const ws of raw) ws.close();
  baseline.stop();

  const users = Array.from({ length: count }, (_, i) => `conn-${i}`);
  const tokens = await Promise.all(users.map(mintBenchToken));

  // The Node peer: same client, same tokens, same wait for `connected`.
  const peer = await startNodePeer();
  await Bun.sleep(500);
  const peerIdle = await peer.rss();
  const onPeer = await connectManyLite(peer.url, tokens, concurrency, "node peer");
  await Bun.sleep(2000);
  const peerHeld = await peer.rss();
  closeAll(onPeer.sockets);
  peer.stop();

  // The same on Socket.IO's Bun engine: Socket.IO's own cost per socket on Bun.
  const bunIo = await startBunSocketIo();
  await Bun.sleep(500);
  const bunIoIdle = await bunIo.rss();
  const onBunIo = await connectManyLite(bunIo.url, tokens, concurrency, "Socket.IO on Bun");
  await Bun.sleep(2000);
  const bunIoHeld = await bunIo.rss();
  closeAll(onBunIo.sockets);
  bunIo.stop();

  const lean = await startLeanSocketIo();
  await Bun.sleep(500);
  const leanIdle = await lean.rss();
  const onLean = await connectManyLite(lean.url, tokens, concurrency, "protocol on Bun.serve");
  await Bun.sleep(2000);
  const leanHeld = await lean.rss();
  closeAll(onLean.sockets);
  lean.stop();

  const service = await startChatService();
  try {
    await service.syncUsers(users);
    await Bun.sleep(500);
    const idle = await rssBytes(service.pid);
    // CPU per connect, of the service and of the servers it uses: a steadier figure than the
    // rate, which moves with whatever else these shared cores run.
    const cpuOf = () => Promise.all([cpuSeconds(service.pid), cpuSecondsOfCommand("postgres"), cpuSecondsOfCommand("redis-server")]);
    const cpuBefore = await cpuOf();
    const { sockets, seconds } = await connectManyLite(service.url, tokens, concurrency, "chat service");
    const cpuAfter = await cpuOf();
    const [serviceCpu, postgresCpu, redisCpu] = cpuAfter.map((after, i) => round(((after - cpuBefore[i]!) / count) * 1e6));
    notes.push(`CPU per connect: service ${serviceCpu} µs, PostgreSQL ${postgresCpu} µs, Redis ${redisCpu} µs`);
    await Bun.sleep(2000);
    const held = await rssBytes(service.pid);
    const alive = sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length;
    if (alive !== count) notes.push(`${count - alive} sockets dropped while held`);
    closeAll(sockets);

    const perSocket = (held - idle) / count;
    const rawPerSocket = (baseHeld - baseIdle) / count;
    const peerPerSocket = (peerHeld - peerIdle) / count;
    const bunIoPerSocket = (bunIoHeld - bunIoIdle) / count;
    const leanPerSocket = (leanHeld - leanIdle) / count;
    const PEER = "Node.js Socket.IO 4 peer";
    notes.push(`Node peer RSS ${round(peerIdle / 2 ** 20)} MiB idle, ${round(peerHeld / 2 ** 20)} MiB holding ${count} sockets`);
    notes.push(`Socket.IO on Bun RSS ${round(bunIoIdle / 2 ** 20)} MiB idle, ${round(bunIoHeld / 2 ** 20)} MiB holding ${count} sockets`);
    notes.push(`service RSS ${round(idle / 2 ** 20)} MiB idle, ${round(held / 2 ** 20)} MiB holding ${count} sockets`);
    return {
      scenario: "connections",
      params: { sockets: count, connectConcurrency: concurrency },
      figures: [
        figure("authenticated sockets held", alive, "sockets"),
        figure("connect rate", round(count / seconds), "sockets/s", { value: round(count / rawSeconds), label: "raw Bun.serve websocket" }),
        figure("service RSS per socket", round(perSocket / 1024, 2), "KiB", { value: round(rawPerSocket / 1024, 2), label: "raw Bun.serve websocket" }, false),
        figure("connect rate vs peer", round(count / seconds), "sockets/s", { value: round(count / onPeer.seconds), label: PEER }),
        figure("RSS per socket vs peer", round(perSocket / 1024, 2), "KiB", { value: round(peerPerSocket / 1024, 2), label: PEER }, false),
        figure("connect rate vs Socket.IO alone", round(count / seconds), "sockets/s", { value: round(count / onBunIo.seconds), label: "minimal Socket.IO 4 server on Bun (bun-engine), same token check" }),
        figure("connect rate vs protocol alone", round(count / seconds), "sockets/s", { value: round(count / onLean.seconds), label: "same connection path, protocol on Bun.serve websockets" }),
        figure("RSS per socket vs Socket.IO alone", round(perSocket / 1024, 2), "KiB", { value: round(bunIoPerSocket / 1024, 2), label: "minimal Socket.IO 4 server on Bun (bun-engine)" }, false),
        figure("RSS per socket vs protocol alone", round(perSocket / 1024, 2), "KiB", { value: round(leanPerSocket / 1024, 2), label: "same connection path, protocol on Bun.serve websockets" }, false),
      ],
      bottleneck: "connect rate: handshake auth (JWT verify + user lookup + conversation rooms query) in the service; the load generator speaks the Socket.IO handshake over raw websockets (lite-client.ts) on the other core",
      notes,
    };
  } finally {
    await service.stop();
  }
}
