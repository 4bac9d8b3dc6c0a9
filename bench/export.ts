#!/usr/bin/env bun
/**
 * `bun bench/export.ts [messages ...]` (default 10000 100000): the resident memory of the service
 * process while it streams `GET /api/users/:id/export` of a user with that many messages. Each
 * run starts the service (`bun src/main.ts`, PostgreSQL and Redis as the other benches) on a fresh
 * database, writes the history with one generate_series statement, reads the service's VmRSS
 * every 20 ms while this process reads the export and drops it, and parses nothing.
 */
import postgres from "postgres";
import { machineInfo } from "./lib/report";
import { BENCH_INTERNAL_SECRET, rssBytes, startChatService } from "./lib/service";

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = counts.length ? counts : [10_000, 100_000];
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function run(count: number) {
  const service = await startChatService();
  try {
    const [ann, bob] = ["export-ann", "export-bob"];
    await service.syncUsers([ann, bob]);
    const created = await service.api(await service.token(bob), "POST", "/api/conversations", { type: "direct", participantIds: [ann] });
    const conversationId = created.body.id as string;
    const sql = postgres(service.databaseUrl, { max: 1, onnotice: () => {} });
    await sql`
      with ins as (
        insert into messages (id, conversation_id, seq, sender_id, content, created_at, updated_at)
        select (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid,
          ${conversationId}::uuid, i, ${ann}, 'a line of history that takes some room in the export ' || i, now(), now()
        from generate_series(1, ${count}::int) as i,
          lateral (select lpad(to_hex((extract(epoch from now()) * 1000)::bigint - ${count}::int + i), 12, '0') as h, md5(i::text) as r) as parts
        returning 1
      )
      update conversations set last_seq = (select count(*) from ins) where id = ${conversationId}::uuid`;
    await sql.end();
    await Bun.sleep(1000);
    const idle = await rssBytes(service.pid);
    let peak = idle;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssBytes(service.pid));
        await Bun.sleep(20);
      }
    })();
    const started = performance.now();
    const res = await fetch(`${service.url}/api/users/${ann}/export`, { headers: { "x-internal-secret": BENCH_INTERNAL_SECRET } });
    let bytes = 0;
    for await (const chunk of res.body!) bytes += chunk.byteLength;
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    return { count, status: res.status, bytes, seconds, idle, peak };
  } finally {
    await service.stop();
  }
}

const machine = await machineInfo();
console.log(`machine: ${JSON.stringify(machine)}`);
console.log("| messages | export size (MiB) | time (s) | service RSS idle (MiB) | service RSS peak (MiB) | growth (MiB) |");
console.log("|---:|---:|---:|---:|---:|---:|");
for (const count of sizes) {
  const r = await run(count);
  if (r.status !== 200) throw new Error(`export answered ${r.status}`);
  console.log(`| ${count.toLocaleString("en")} | ${mib(r.bytes)} | ${r.seconds.toFixed(1)} | ${mib(r.idle)} | ${mib(r.peak)} | ${mib(r.peak - r.idle)} |`);
}
process.exit(0);
