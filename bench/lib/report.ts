import os from "node:os";
import postgres from "postgres";
import Redis from "ioredis";
import { ADMIN_DATABASE_URL, REDIS_URL } from "./service";
import type { ScenarioResult } from "./types";

export async function machineInfo() {
  const sql = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  const [pg] = await sql`show server_version`;
  await sql.end();
  const redis = new Redis(REDIS_URL);
  const info = await redis.info("server");
  redis.disconnect();
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    bun: Bun.version,
    postgres: String(pg?.server_version ?? "unknown"),
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
  };
}

const fmt = (n: number | undefined) => (n === undefined ? "" : n >= 100 ? Math.round(n).toLocaleString("en-US") : String(n));

export function renderTable(machine: Awaited<ReturnType<typeof machineInfo>>, command: string, results: ScenarioResult[], date: string): string {
  const lines = [
    `Run ${date} with \`${command}\` on ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB (kernel ${machine.kernel});`,
    `Bun ${machine.bun}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}. Service, PostgreSQL, Redis and the load generator share the machine.`,
    "",
    "| scenario | metric | ours | same-run baseline | ratio |",
    "|---|---|---:|---|---:|",
  ];
  for (const r of results) {
    for (const f of r.figures) {
      const base = f.baseline === undefined ? "" : `${fmt(f.baseline)} ${f.unit} (${f.baselineLabel})`;
      lines.push(`| ${r.scenario} | ${f.metric} | ${fmt(f.ours)} ${f.unit} | ${base} | ${f.ratio === undefined ? "" : `${f.ratio}×`} |`);
    }
  }
  lines.push("", "Ratio: ours ÷ baseline (baseline ÷ ours for memory and latency), so above 1 means better than the baseline.", "");
  for (const r of results) {
    lines.push(`- **${r.scenario}** (${Object.entries(r.params).map(([k, v]) => `${k} ${v}`).join(", ")}): bottleneck: ${r.bottleneck}.`);
    for (const n of r.notes) lines.push(`  - ${n}`);
  }
  return lines.join("\n");
}

const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";

/** Replaces the generated part of RESULTS.md, leaving hand-written sections alone. */
export async function writeResults(path: string, table: string): Promise<void> {
  const file = Bun.file(path);
  const current = (await file.exists()) ? await file.text() : "# Benchmark results\n";
  const block = `${START}\n${table}\n${END}`;
  const next = current.includes(START) ? current.replace(new RegExp(`${START}[\\s\\S]*?${END}`), block) : `${current.trimEnd()}\n\n## Latest full run\n\n${block}\n`;
  await Bun.write(path, next);
}
