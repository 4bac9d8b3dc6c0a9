/**
 * The compiled binary under test: built once per test process with `bun run build` (the command
 * the Dockerfile runs) unless dist/chat-service is newer than every source, then copied alone
 * into an empty folder and started there with nothing but the environment we pass.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INTERNAL_SECRET, JWT_SECRET } from "../helpers/service";

const ROOT = join(import.meta.dir, "../..");
export const BUILT = join(ROOT, "dist/chat-service");

function newestSource(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestSource(join(path, entry))));
}

let built: string | undefined;
/** Path of an up-to-date binary, building it when a source changed since the last build. */
export function ensureBinary(): string {
  if (built) return built;
  const sources = Math.max(...["src", "drizzle", "package.json", "bun.lock"].map((p) => newestSource(join(ROOT, p))));
  let fresh = false;
  try {
    fresh = statSync(BUILT).mtimeMs > sources;
  } catch {}
  if (!fresh) {
    const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`bun run build failed:\n${build.stderr.toString()}`);
  }
  return (built = BUILT);
}

/** An empty folder holding only a copy of the binary; removed by `cleanup`. */
export function isolatedBinary(): { dir: string; binary: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "chat-bin-"));
  const binary = join(dir, "chat-service");
  copyFileSync(ensureBinary(), binary);
  return { dir, binary, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Production-mode environment: real secrets, free ports, debug logs (to check what they reveal). */
export function binaryEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string | undefined> = {
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: "0",
    WS_PORT: "0",
    LOG_LEVEL: "debug",
    AUTH_JWT_SECRET: JWT_SECRET,
    INTERNAL_API_SECRET: INTERNAL_SECRET,
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export type LogLine = { time: string; level: string; msg: string; [field: string]: unknown };

export type RunningBinary = {
  url: string;
  wsUrl: string;
  port: number;
  /** Every line printed so far, stdout and stderr. */
  output: string[];
  logs(): LogLine[];
  exited: Promise<number>;
  kill(signal: NodeJS.Signals): void;
};

async function collect(stream: ReadableStream<Uint8Array>, into: string[], onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      into.push(line);
      onLine(line);
    }
  }
  if (rest) into.push(rest);
}

/** Starts `serve` and resolves once it logged the ports it listens on. */
export async function startBinary(binary: string, cwd: string, env: Record<string, string>): Promise<RunningBinary> {
  const proc = Bun.spawn([binary], { cwd, env, stdout: "pipe", stderr: "pipe" });
  const output: string[] = [];
  const listening = Promise.withResolvers<{ port: number; wsPort: number | null }>();
  const onLine = (line: string) => {
    if (!line.startsWith("{")) return;
    const parsed = JSON.parse(line) as LogLine;
    if (parsed.msg === "listening") listening.resolve({ port: parsed.port as number, wsPort: parsed.wsPort as number | null });
  };
  const drained = Promise.all([collect(proc.stdout, output, onLine), collect(proc.stderr, output, onLine)]);
  const exited = proc.exited.then(async (code) => {
    await drained;
    listening.reject(new Error(`binary exited with ${code} before listening:\n${output.join("\n")}`));
    return code;
  });
  const timer = setTimeout(() => listening.reject(new Error(`binary not listening within 30 s:\n${output.join("\n")}`)), 30_000);
  const { port, wsPort } = await listening.promise.finally(() => clearTimeout(timer));
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `http://127.0.0.1:${wsPort ?? port}`,
    port,
    output,
    logs: () => output.filter((l) => l.trim()).map((l) => JSON.parse(l) as LogLine),
    exited,
    kill: (signal) => proc.kill(signal),
  };
}

/** Runs a command of the binary to completion. */
export async function runBinary(binary: string, cwd: string, args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([binary, ...args], { cwd, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Polls until `url` answers 200 (the service is ready). */
export async function waitFor200(url: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    const res = await fetch(url).catch((e: Error) => e);
    if (res instanceof Response) {
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } else last = res.message;
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}
