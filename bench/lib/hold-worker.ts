/**
 * One load-generator process for the `hold` scenario: opens idle sockets and keeps them open
 * (answering Engine.IO pings) until killed. A process may open no more descriptors than its
 * RLIMIT_NOFILE, so the scenario runs several of these, each raised to its hard limit.
 *
 * Environment: HOLD_MODE `lite` (authenticated Socket.IO sockets, lite-client.ts) or `raw` (plain
 * websockets to bench/baselines/ws-server.ts); HOLD_URLS, comma-separated destinations, used in
 * turn so that no destination address/port pair runs out of ephemeral ports; HOLD_USERS
 * `<prefix>:<from>:<to>`, the users (or, raw, just the count) this process connects.
 *
 * stdout, one line each: `progress <n>`, then `ready <seconds> <opened> <failed>`; a line `count` on
 * stdin answers `alive <n>`.
 */
import { openRawSocket } from "./baseline-server";
import { connectLite } from "./lite-client";
import { mintBenchToken } from "./service";
import { pool } from "./stats";

const mode = process.env.HOLD_MODE ?? "lite";
const urls = (process.env.HOLD_URLS ?? "").split(",").filter(Boolean);
const [prefix, from, to] = (process.env.HOLD_USERS ?? "idle:0:0").split(":") as [string, string, string];
const indexes = Array.from({ length: Number(to) - Number(from) }, (_, i) => Number(from) + i);
const concurrency = Number(process.env.HOLD_CONCURRENCY ?? 100);

const held: WebSocket[] = [];
let failed = 0;
const started = performance.now();
await pool(indexes, concurrency, async (n, i) => {
  const url = urls[i % urls.length]!;
  try {
    if (mode === "raw") held.push(await openRawSocket(url));
    else held.push((await connectLite(url, await mintBenchToken(`${prefix}-${n}`))).ws);
  } catch {
    failed++;
  }
  const done = held.length + failed;
  if (done % 1000 === 0) console.log(`progress ${done}`);
});
console.log(`ready ${(performance.now() - started) / 1000} ${held.length} ${failed}`);

for await (const line of console) {
  if (line.trim() === "count") console.log(`alive ${held.filter((ws) => ws.readyState === WebSocket.OPEN).length}`);
}
