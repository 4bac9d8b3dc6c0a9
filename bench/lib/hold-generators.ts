/**
 * Runs bench/lib/hold-worker.ts in several processes to open and hold many idle sockets: one
 * process may hold no more sockets than its open-file limit allows, and one JS thread connecting
 * tens of thousands of them would set the connect rate itself.
 */
import { progress, progressDone } from "./stats";
import { withFileLimit } from "./service";

const ROOT = new URL("../..", import.meta.url).pathname;

type Worker = { proc: Bun.Subprocess<"pipe", "pipe", "inherit">; lines: AsyncIterator<string> };

export type Held = {
  /** Sockets open when every process had finished connecting. */
  opened: number;
  failed: number;
  /** From a process's first connect to its last `connected`, for the slowest process (each starts Bun first). */
  seconds: number;
  processes: number;
  pids: number[];
  /** Sockets still open now. */
  alive(): Promise<number>;
  stop(): void;
};

async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

async function nextLine(w: Worker, prefix: string, onOther?: (line: string) => void): Promise<string[]> {
  for (;;) {
    const { value, done } = await w.lines.next();
    if (done) throw new Error(`hold worker exited (code ${w.proc.exitCode})`);
    if (value.startsWith(`${prefix} `)) return value.split(" ").slice(1);
    onOther?.(value);
  }
}

/**
 * Opens `count` sockets (users `<prefix>-<0..count-1>` in `lite` mode) spread over `processes`
 * processes and, within each, over `urls` in turn; resolves once all are open.
 */
export async function holdSockets(opts: { mode: "lite" | "raw"; urls: string[]; count: number; processes: number; prefix: string; label: string }): Promise<Held> {
  const per = Math.ceil(opts.count / opts.processes);
  const workers: Worker[] = [];
  for (let p = 0; p < opts.processes; p++) {
    const from = p * per;
    const to = Math.min(opts.count, from + per);
    if (to <= from) break;
    const proc = Bun.spawn(withFileLimit(["bun", "bench/lib/hold-worker.ts"]), {
      cwd: ROOT,
      env: { ...process.env, HOLD_MODE: opts.mode, HOLD_URLS: opts.urls.join(","), HOLD_USERS: `${opts.prefix}:${from}:${to}` },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    workers.push({ proc, lines: linesOf(proc.stdout)[Symbol.asyncIterator]() });
  }
  const progressOf = new Array<number>(workers.length).fill(0);
  const ready = await Promise.all(
    workers.map((w, i) =>
      nextLine(w, "ready", (line) => {
        if (!line.startsWith("progress ")) return;
        progressOf[i] = Number(line.split(" ")[1]);
        progress(`${opts.label}: ${progressOf.reduce((a, b) => a + b, 0)}/${opts.count} sockets`);
      }),
    ),
  );
  // Each process times its own connects: the time Bun takes to start one is not the service's.
  const seconds = Math.max(...ready.map(([elapsed]) => Number(elapsed)));
  progressDone();
  return {
    opened: ready.reduce((sum, [, opened]) => sum + Number(opened), 0),
    failed: ready.reduce((sum, [, , failed]) => sum + Number(failed), 0),
    seconds,
    processes: workers.length,
    pids: workers.map((w) => w.proc.pid),
    async alive() {
      const counts = await Promise.all(
        workers.map((w) => {
          w.proc.stdin.write("count\n");
          w.proc.stdin.flush();
          return nextLine(w, "alive");
        }),
      );
      return counts.reduce((sum, [n]) => sum + Number(n), 0);
    },
    stop() {
      for (const w of workers) w.proc.kill("SIGKILL");
    },
  };
}
