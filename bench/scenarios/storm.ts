/**
 * Reconnect storm: every socket of instance A (10,000 by default, each user in a 10-member group)
 * connected and synced; A is killed (SIGKILL); every client comes back to the surviving instance
 * B and syncs as the SDK does (see storm-client.ts), while a message is sent into every
 * conversation through B, so that each client misses one while it is away. Measured: the time
 * from the kill until every client is connected, and until every client is synced and holds every
 * message; errors by code. Baseline: the same sockets' initial connect (and first sync) on A while
 * A was fresh, in the same run, with the same spread of arrivals.
 */
import postgres from "postgres";
import { ADMIN_DATABASE_URL, type ChatService, cpuSeconds, startChatService } from "../lib/service";
import { latencySummary, pool, progress, progressDone, round } from "../lib/stats";
import { ErrorCounts, StormUser } from "../lib/storm-client";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

const GROUP = 10;
const HISTORY = 2;

/** The clients' arrivals are spread as their first reconnect is: socket.io-client waits 0.5–1.5 s. */
const arrival = () => 500 + Math.random() * 1000;

type Phase = Awaited<ReturnType<typeof settle>> & { cpu: number; transactions: number };

/** Waits until every user is connected and synced, and `done()`; seconds from `started` to each. */
async function settle(users: StormUser[], errors: ErrorCounts, started: number, timeoutMs: number, label: string, done: () => boolean = () => true) {
  const end = performance.now() + timeoutMs;
  let lastReport = 0;
  for (;;) {
    const connected = users.filter((u) => u.connectedAt > 0).length;
    const synced = users.filter((u) => u.syncedAt > 0).length;
    if (synced === users.length && done()) break;
    if (performance.now() > end) throw new Error(`${label}: ${connected} connected, ${synced} synced of ${users.length} after ${timeoutMs / 1000} s`);
    if (performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      progress(`${label}: ${connected} connected, ${synced} synced of ${users.length}; errors ${JSON.stringify(errors)}`);
    }
    await Bun.sleep(20);
  }
  progressDone();
  const handshake = latencySummary(users.map((u) => u.connectedAt - u.attemptAt));
  const sync = latencySummary(users.map((u) => u.syncedAt - u.connectedAt));
  progress(`${label}: handshake ms ${JSON.stringify(handshake)}, sync ms ${JSON.stringify(sync)}`);
  progressDone();
  const connected = Math.max(...users.map((u) => u.connectedAt)) - started;
  const synced = Math.max(...users.map((u) => u.syncedAt)) - started;
  return { connected: connected / 1000, synced: synced / 1000, handshake, sync };
}

/** Committed transactions in the service's database so far (statements outside transactions count one each). */
async function transactions(databaseUrl: string): Promise<number> {
  const sql = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select xact_commit + xact_rollback as n from pg_stat_database where datname = ${new URL(databaseUrl).pathname.slice(1)}`;
    return Number(row?.n ?? 0);
  } finally {
    await sql.end();
  }
}

async function sendOnePerConversation(service: ChatService, conversations: { id: string; owner: string }[], label: string) {
  const seqs = new Map<string, number>();
  await pool(conversations, 32, async ({ id, owner }) => {
    const res = await service.api(await service.token(owner), "POST", `/api/conversations/${id}/messages`, { content: `${label} ${"x".repeat(40)}` });
    if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
    seqs.set(id, res.body.seq);
  });
  return seqs;
}

export async function storm({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const count = quick ? 300 : Number(process.env.BENCH_STORM_SOCKETS ?? 10_000);
  const timeoutMs = quick ? 30_000 : 240_000;
  const notes: string[] = [];
  // The service's own limits, not the bench's raised ones: a storm must live with them.
  const limits = { RATE_LIMIT_MESSAGES: "30", RATE_LIMIT_EVENTS: "120" };
  const a = await startChatService(limits);
  let b: ChatService | undefined;
  const users: StormUser[] = [];
  try {
    b = await startChatService(limits, a);
    const ids = Array.from({ length: count }, (_, i) => `storm-${i}`);
    await a.syncUsers(ids);
    const conversations: { id: string; owner: string }[] = [];
    await pool(Array.from({ length: Math.ceil(count / GROUP) }, (_, g) => g), 16, async (g) => {
      const members = ids.slice(g * GROUP, (g + 1) * GROUP);
      const res = await a.api(await a.token(members[0]!), "POST", "/api/conversations", { type: "group", name: `storm ${g}`, participantIds: members.slice(1) });
      if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
      conversations.push({ id: res.body.id, owner: members[0]! });
      if (conversations.length % 200 === 0) progress(`storm: ${conversations.length} conversations`);
    });
    for (let h = 0; h < HISTORY; h++) await sendOnePerConversation(a, conversations, `history ${h}`);
    progressDone();

    const errors = new ErrorCounts();
    const events = new ErrorCounts();
    for (const id of ids) users.push(new StormUser(id, await a.token(id), errors, events));

    // Baseline: the first connect on a fresh instance (whole history synced, as a new client does).
    const before = { cpu: await cpuSeconds(a.pid), tx: await transactions(a.databaseUrl) };
    let started = performance.now();
    for (const u of users) u.start(a.url, arrival());
    const first = await settle(users, errors, started, timeoutMs, "initial connect to A");
    const initial: Phase = { ...first, cpu: round(((await cpuSeconds(a.pid)) - before.cpu) / first.synced, 2), transactions: (await transactions(a.databaseUrl)) - before.tx };
    const initialErrors = errors.toJSON();
    const initialEvents = events.toJSON();
    errors.counts.clear();
    events.counts.clear();
    // Presence announcements of the first connect drain before the kill.
    await Bun.sleep(quick ? 1000 : 3000);

    // The storm: a load balancer sends every reconnect to B once A is gone.
    for (const u of users) u.moveTo(b.url);
    const stormBefore = { cpu: await cpuSeconds(b.pid), tx: await transactions(a.databaseUrl) };
    started = performance.now();
    await a.kill();
    let targets: Map<string, number> | undefined;
    const away = sendOnePerConversation(b, conversations, "while away").then((seqs) => (targets = seqs));
    const holdsAll = () => targets !== undefined && users.every((u) => u.holdsAll(targets!));
    const storm = await settle(users, errors, started, timeoutMs, "storm onto B", holdsAll);
    await away;
    const after: Phase = { ...storm, cpu: round(((await cpuSeconds(b.pid)) - stormBefore.cpu) / storm.synced, 2), transactions: (await transactions(a.databaseUrl)) - stormBefore.tx };
    const stormErrors = errors.toJSON();
    const stormEvents = events.toJSON();
    const unexpected = errors.unexpected();

    notes.push(`initial connect: all connected ${round(initial.connected, 2)} s, all synced ${round(initial.synced, 2)} s; A used ${initial.cpu} cores; ${initial.transactions} database transactions; per client: handshake ${JSON.stringify(initial.handshake)} ms, sync after connected ${JSON.stringify(initial.sync)} ms`);
    notes.push(`storm: all connected ${round(after.connected, 2)} s after the kill, all synced and holding the message sent while away ${round(after.synced, 2)} s; B used ${after.cpu} cores; ${after.transactions} database transactions; per client: handshake ${JSON.stringify(after.handshake)} ms, sync after connected ${JSON.stringify(after.sync)} ms`);
    notes.push(`errors during the initial connect: ${JSON.stringify(initialErrors)}; during the storm: ${JSON.stringify(stormErrors)} (${unexpected} other than a retried UNAVAILABLE or RATE_LIMITED)`);
    notes.push(`presence events received: initial connect ${JSON.stringify(initialEvents)}; storm ${JSON.stringify(stormEvents)}`);
    return {
      scenario: "storm",
      params: { sockets: count, conversations: conversations.length, groupSize: GROUP },
      figures: [
        figure("storm: all reconnected after SIGKILL", round(after.connected, 2), "s", { value: round(initial.connected, 2), label: "initial connect on a fresh instance" }, false),
        figure("storm: all reconnected and synced", round(after.synced, 2), "s", { value: round(initial.synced, 2), label: "initial connect and sync on a fresh instance" }, false),
        figure("storm: errors other than retried UNAVAILABLE / RATE_LIMITED", unexpected, "errors"),
      ],
      bottleneck: `the handshake and sync reads on the survivor (B at ${after.cpu} cores during the storm, PostgreSQL and the load generator on the rest of the two cores)`,
      notes,
    };
  } finally {
    for (const u of users) u.stop();
    await b?.stop();
    await a.stop();
  }
}
