/**
 * Measures the compiled binary: size, time from exec to a 200 on /health and /ready (first start
 * on an empty data directory, then restarts on it), idle RSS, and time to exit after SIGTERM.
 * The binary is copied alone into an empty folder and started with env vars only.
 *
 *   bun run build && bun bench/binary.ts [path/to/chat-service] [runs]
 *
 * With DATABASE_URL set (a scratch database: migrations are applied to it), a third row measures
 * starts on Postgres instead of the embedded database.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const source = process.argv[2] ?? "dist/chat-service";
const runs = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(tmpdir(), "chat-binary-"));
const binary = join(dir, "chat-service");
copyFileSync(source, binary);

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = server.port!;
  await server.stop(true);
  return port;
}

async function until(url: string, started: number): Promise<number> {
  for (;;) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return performance.now() - started;
    if (performance.now() - started > 60_000) throw new Error(`${url} not ready within 60 s`);
    await Bun.sleep(5);
  }
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

type Run = { health: number; ready: number; rss: number; stop: number };

async function once(storage: { DATA_DIR: string } | { DATABASE_URL: string }): Promise<Run> {
  const port = await freePort();
  const env = { PORT: String(port), WS_PORT: String(await freePort()), ...storage, LOG_LEVEL: "warn" };
  const started = performance.now();
  const proc = Bun.spawn([binary], { cwd: dir, env, stdout: "ignore", stderr: "ignore" });
  const health = await until(`http://127.0.0.1:${port}/health`, started);
  const ready = await until(`http://127.0.0.1:${port}/ready`, started);
  await Bun.sleep(5000);
  const rss = rssMb(proc.pid);
  const stopping = performance.now();
  proc.kill("SIGTERM");
  const code = await proc.exited;
  if (code !== 0) throw new Error(`exit code ${code}`);
  return { health, ready, rss, stop: performance.now() - stopping };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const row = (label: string, rs: Run[]) =>
  `| ${label} | ${rs.length} | ${median(rs.map((r) => r.health)).toFixed(0)} | ${median(rs.map((r) => r.ready)).toFixed(0)} | ${median(rs.map((r) => r.rss)).toFixed(0)} | ${median(rs.map((r) => r.stop)).toFixed(0)} |`;

try {
  const first: Run[] = [];
  const restarts: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const dataDir = join(dir, `data-${i}`);
    first.push(await once({ DATA_DIR: dataDir }));
    restarts.push(await once({ DATA_DIR: dataDir }));
  }
  const postgres: Run[] = [];
  for (let i = 0; process.env.DATABASE_URL && i < runs; i++) postgres.push(await once({ DATABASE_URL: process.env.DATABASE_URL }));
  console.log(`binary: ${(statSync(binary).size / 1024 / 1024).toFixed(1)} MiB (${source})`);
  console.log("| start | runs | to /health (ms) | to /ready (ms) | idle RSS (MiB) | SIGTERM to exit (ms) |");
  console.log("|---|---|---|---|---|---|");
  console.log(row("empty DATA_DIR (initdb + migrations)", first));
  console.log(row("existing DATA_DIR", restarts));
  if (postgres.length) console.log(row("Postgres (DATABASE_URL, migrated)", postgres));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
