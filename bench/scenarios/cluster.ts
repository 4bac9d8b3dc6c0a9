/**
 * Scale-out: two instances sharing PostgreSQL and Redis (the Redis adapter carries every room
 * broadcast to the other instance), against one instance, in the same run. Delivered msg/s in
 * 2-person conversations whose two members sit on different instances, and deliveries/s into a
 * big room whose members are split across both.
 */
import { broadcastInto, type RoomRun } from "../lib/broadcast";
import { closeAll } from "../lib/clients";
import { maxRate, setupRooms } from "../lib/rooms";
import { type ChatService, cpuSeconds, mintBenchToken, startChatService } from "../lib/service";
import { progress, progressDone, round } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

type PairRun = { delivered: number; persisted: number; failed: number; cpu: number[]; loadCpu: number };

/** 2-person rooms, member 0 on `urls[0]` and member 1 on the last of `urls`; closed-loop max rate. */
async function pairs(service: ChatService, instances: ChatService[], rooms: number, seconds: number, tag: string): Promise<PairRun> {
  const { rooms: list, sockets } = await setupRooms(service, rooms, 2, tag, instances.map((i) => i.url));
  try {
    progress(`${instances.length} instance(s): measuring maximum rate for ${seconds} s`);
    const before = await Promise.all(instances.map((i) => cpuSeconds(i.pid)));
    const load = process.cpuUsage();
    const started = performance.now();
    const max = await maxRate(list, sockets, seconds, 4);
    // Over the whole call: it also waits for the last sends in flight and for their deliveries.
    const elapsed = (performance.now() - started) / 1000;
    const cpu = await Promise.all(instances.map(async (i, k) => round(((await cpuSeconds(i.pid)) - before[k]!) / elapsed, 2)));
    const used = process.cpuUsage(load);
    progressDone();
    return { ...max, cpu, loadCpu: round((used.user + used.system) / 1e6 / elapsed, 2) };
  } finally {
    closeAll(sockets);
  }
}

async function bigRoom(service: ChatService, instances: ChatService[], users: string[], tokens: string[], messages: number, settleMs: number, label: string): Promise<RoomRun> {
  const created = await service.api(tokens[0]!, "POST", "/api/conversations", { type: "group", name: label, participantIds: users.slice(1) });
  if (created.status !== 201) throw new Error(`create room: ${created.status}`);
  return broadcastInto(label, instances.map((i) => i.url), instances.map((i) => i.pid), tokens, created.body.id, messages, settleMs);
}

export async function cluster({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const seconds = quick ? 3 : 10;
  const pairCount = quick ? 20 : 200;
  const members = quick ? 100 : Number(process.env.BENCH_ROOM_SIZE ?? 1000);
  const messages = quick ? 50 : 1000;
  const settleMs = quick ? 1000 : 5000;
  const notes: string[] = [];

  // One instance first, then a second joins the same database and Redis prefix: the same data,
  // the same users; each measurement uses rooms of its own.
  const a = await startChatService();
  let b: ChatService | undefined;
  try {
    const roomUsers = Array.from({ length: members }, (_, i) => `split-${i}`);
    const roomTokens = await Promise.all(roomUsers.map(mintBenchToken));
    await a.syncUsers(roomUsers);

    const one = await pairs(a, [a], pairCount, seconds, "one");
    const oneRoom = await bigRoom(a, [a], roomUsers, roomTokens, messages, settleMs, "big room, one instance");

    b = await startChatService({}, a);
    const two = await pairs(a, [a, b], pairCount, seconds, "two");
    const twoRoom = await bigRoom(a, [a, b], roomUsers, roomTokens, messages, settleMs, "big room, two instances");

    const ONE = { label: "one instance, same run" };
    notes.push(
      `2-person max rate: one instance ${round(one.persisted)} msg/s persisted (service ${one.cpu[0]} cores, load generator ${one.loadCpu}); ` +
        `two instances ${round(two.persisted)} msg/s persisted (sender's instance ${two.cpu[0]} cores, receiver's ${two.cpu[1]}, load generator ${two.loadCpu})`,
    );
    notes.push(
      `big room (${members} members, ${messages} messages): one instance ${round(oneRoom.cpu, 2)} cores; two instances together ${round(twoRoom.cpu, 2)} cores`,
    );
    for (const [what, r] of [["one instance", oneRoom], ["two instances", twoRoom]] as const) {
      if (r.missing) notes.push(`big room, ${what}: ${r.missing} of ${members * messages} deliveries missing after 120 s`);
    }
    if (one.failed || two.failed) notes.push(`failed sends: one instance ${one.failed}, two instances ${two.failed}`);
    return {
      scenario: "cluster",
      params: { seconds, pairs: pairCount, members, messages },
      figures: [
        figure("2-person delivered msg/s, members on different instances", round(two.delivered), "deliveries/s", { value: round(one.delivered), ...ONE }),
        figure("big-room deliveries/s, members split over two instances", round(twoRoom.perSecond), "deliveries/s", { value: round(oneRoom.perSecond), ...ONE }),
      ],
      bottleneck:
        "the two cores: both instances, PostgreSQL, Redis and the load generator share them, so a second instance adds no CPU, only " +
        "the cross-instance work (each broadcast published to Redis, read back and written out by the other instance)",
      notes,
    };
  } finally {
    await b?.stop();
    await a.stop();
  }
}
