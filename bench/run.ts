#!/usr/bin/env bun
/**
 * `bun run bench [--quick] [scenario ...]`: starts the chat service on real PostgreSQL and Redis,
 * drives it from this process with real socket.io-client connections and HTTP requests, measures a
 * bounding baseline in the same run for every scenario, and writes JSON plus bench/RESULTS.md.
 */
import { mkdirSync } from "node:fs";
import { machineInfo, renderTable, writeResults } from "./lib/report";
import type { ScenarioOptions, ScenarioResult } from "./lib/types";
import { cluster } from "./scenarios/cluster";
import { connections } from "./scenarios/connections";
import { fanout } from "./scenarios/fanout";
import { growth } from "./scenarios/growth";
import { hold } from "./scenarios/hold";
import { membership } from "./scenarios/membership";
import { rest } from "./scenarios/rest";
import { search } from "./scenarios/search";
import { storm } from "./scenarios/storm";
import { throughput } from "./scenarios/throughput";
import { webhooks } from "./scenarios/webhooks";

const SCENARIOS: Record<string, (o: ScenarioOptions) => Promise<ScenarioResult>> = { connections, throughput, fanout, rest, search, webhooks, growth, membership, hold, cluster, storm };

const args = process.argv.slice(2);
if (args.includes("--help")) {
  console.log(`Usage: bun run bench [--quick] [${Object.keys(SCENARIOS).join("|")} ...]

  --quick   a few seconds per scenario (smoke run; results go to bench/results/quick.json only)

Environment: BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_REDIS_URL (default redis://127.0.0.1:6379), BENCH_SOCKETS (10000), BENCH_ROOM_SIZE (1000),
BENCH_HOLD_SOCKETS (50000, capped by the open-file hard limit), BENCH_GROWTH_MAX (stored messages
at the largest growth step, 10000000: about 7 minutes on an idle two-core machine, most of it
building the word index), BENCH_MEMBERSHIP_LEVELS (1,1000,10000),
BENCH_STORM_SOCKETS (10000).`);
  process.exit(0);
}
const quick = args.includes("--quick");
const chosen = args.filter((a) => !a.startsWith("--"));
for (const name of chosen) if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
const names = chosen.length ? chosen : Object.keys(SCENARIOS);

const machine = await machineInfo();
const date = new Date().toISOString();
const command = `bun run bench${quick ? " --quick" : ""}${chosen.length ? ` ${chosen.join(" ")}` : ""}`;
const dir = new URL("./results/", import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const jsonPath = `${dir}${quick ? "quick" : date.replace(/[:.]/g, "-")}.json`;
const results: ScenarioResult[] = [];
const failed: string[] = [];
for (const name of names) {
  const started = performance.now();
  console.error(`\n▶ ${name}${quick ? " (quick)" : ""}`);
  let result: ScenarioResult;
  try {
    result = await SCENARIOS[name]!({ quick });
  } catch (error) {
    // One scenario failing (a service that would not start, a phase past its deadline) must not
    // throw away what the others of a long run measured; the run still ends with a failure.
    console.error(`  failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    failed.push(name);
    result = { scenario: name, params: {}, figures: [], bottleneck: "not measured: the scenario failed", notes: [`failed: ${error instanceof Error ? error.message : String(error)}`] };
  }
  results.push(result);
  for (const f of result.figures) {
    console.error(`  ${f.metric}: ${f.ours} ${f.unit}${f.baseline === undefined ? "" : ` vs ${f.baseline} (${f.baselineLabel}) → ${f.ratio === undefined ? "no ratio (a figure of 0)" : `${f.ratio}×`}`}`);
  }
  console.error(`  (${Math.round((performance.now() - started) / 1000)} s)`);
  // Written after every scenario, so that a run cut short keeps what it measured.
  await Bun.write(jsonPath, JSON.stringify({ date, command, machine, results }, null, 2));
}

const table = renderTable(machine, command, results, date);
// RESULTS.md keeps the last complete run: a run with a failed scenario would leave holes in it.
if (!quick && !chosen.length && !failed.length) await writeResults(new URL("./RESULTS.md", import.meta.url).pathname, table);
console.log(table);
if (failed.length) console.error(`\nfailed: ${failed.join(", ")}`);
process.exit(failed.length ? 1 : 0);
