/**
 * Child processes of a test (service instances, HAProxy, PgBouncer, Redis servers): each is
 * killed when the test process exits, whatever happened, and keeps its output for failure
 * messages.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Child = {
  pid: number;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  readonly exitCode: number | null;
  /** Neither exited nor killed by a signal. */
  readonly running: boolean;
  /** What the process wrote so far (stdout and stderr). */
  output(): string;
  /** Ends the process at once, like a crash. */
  crash(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
};

const running = new Set<ReturnType<typeof Bun.spawn>>();
const killAll = () => {
  for (const proc of running) proc.kill("SIGKILL");
};
process.once("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  });
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk));
}

export function spawnChild(command: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Child {
  const proc = Bun.spawn(command, { cwd: options.cwd, env: options.env, stdout: "pipe", stderr: "pipe" });
  running.add(proc);
  const lines: string[] = [];
  void collect(proc.stdout, lines);
  void collect(proc.stderr, lines);
  void proc.exited.then(() => running.delete(proc));
  return {
    pid: proc.pid,
    exited: proc.exited,
    get exitCode() {
      return proc.exitCode;
    },
    get running() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    output: () => lines.join(""),
    async crash() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A port nobody listens on, taken below the kernel's ephemeral range: a port the kernel hands
 * out for port 0 could be given to another process between this check and the child's bind.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {}
  }
  throw new Error("no free port found");
}

/** The path of `command`; a missing one fails the test with the Debian package that brings it. */
export function requireBinary(command: string, debianPackage: string): string {
  const path = Bun.which(command) ?? Bun.which(command, { PATH: "/usr/sbin:/sbin:/usr/local/sbin" });
  if (!path) throw new Error(`${command} is not installed: apt-get install -y ${debianPackage} (.ci/run installs it)`);
  return path;
}

/** True when `url` answers 2xx within a second; false when it answers otherwise or not at all. */
export async function answersOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** A temporary directory, removed by `remove()`. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Polls `probe` until it resolves true; fails with `describe()` (say, the process's output)
 * otherwise. A probe that throws ends the wait at once.
 */
export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, describe: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return;
    await Bun.sleep(100);
  }
  throw new Error(`not ready within ${timeoutMs} ms: ${describe()}`);
}
