import { rssBytes } from "./service";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Starts bench/baselines/ws-server.ts as a child process: the raw Bun websocket baseline. */
export async function startBaselineWsServer(): Promise<{ url: string; pid: number; rss(): Promise<number>; stop(): void }> {
  const proc = Bun.spawn(["bun", "bench/baselines/ws-server.ts"], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("baseline server exited");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(text.trim());
  return { url: `ws://127.0.0.1:${port}`, pid: proc.pid, rss: () => rssBytes(proc.pid), stop: () => proc.kill("SIGKILL") };
}

export function openRawSocket(url: string, subscribe = false): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => {
      if (!subscribe) return resolve(ws);
      ws.onmessage = (e) => {
        if (e.data === "ok") {
          ws.onmessage = null;
          resolve(ws);
        }
      };
      ws.send("sub");
    };
    ws.onerror = () => reject(new Error("raw websocket failed"));
  });
}
