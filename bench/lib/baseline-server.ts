import { BENCH_JWT_SECRET, rssBytes, withFileLimit } from "./service";

const ROOT = new URL("../..", import.meta.url).pathname;

type Spawned = { pid: number; port: number; rss(): Promise<number>; stop(): void };

/** Starts a baseline server that prints its port on its first line of stdout. */
async function spawnBaseline(cmd: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`baseline server ${cmd.join(" ")} exited`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { pid: proc.pid, port: Number(text.trim()), rss: () => rssBytes(proc.pid), stop: () => proc.kill("SIGKILL") };
}

/** Starts bench/baselines/ws-server.ts as a child process: the raw Bun websocket baseline. */
export async function startBaselineWsServer(env: Record<string, string> = {}): Promise<{ url: string; pid: number; port: number; rss(): Promise<number>; stop(): void }> {
  const server = await spawnBaseline(withFileLimit(["bun", "bench/baselines/ws-server.ts"]), env);
  return { ...server, url: `ws://127.0.0.1:${server.port}` };
}

export type NodePeer = Spawned & { url: string; setRoom(conversationId: string, userIds: string[]): Promise<void> };

/**
 * Starts bench/baselines/node-socketio-server.mjs under Node: a minimal Socket.IO server with
 * in-memory rooms and the same token check, the peer a team would otherwise write themselves.
 */
export async function startNodePeer(): Promise<NodePeer> {
  const server = await spawnBaseline(["node", "bench/baselines/node-socketio-server.mjs"], { AUTH_JWT_SECRET: BENCH_JWT_SECRET });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    ...server,
    url,
    async setRoom(conversationId, userIds) {
      const res = await fetch(`${url}/rooms`, { method: "POST", body: JSON.stringify({ conversationId, userIds }) });
      if (res.status !== 204) throw new Error(`node peer /rooms: ${res.status}`);
    },
  };
}

/**
 * Starts bench/baselines/bun-socketio-server.ts: the Node peer's connection path on Socket.IO's
 * Bun engine, what Socket.IO itself retains per socket on Bun with none of the service's code.
 */
export async function startBunSocketIo(): Promise<Spawned & { url: string }> {
  const server = await spawnBaseline(["bun", "bench/baselines/bun-socketio-server.ts"], { AUTH_JWT_SECRET: BENCH_JWT_SECRET, NODE_ENV: "production" });
  return { ...server, url: `http://127.0.0.1:${server.port}` };
}

/**
 * Starts bench/baselines/lean-socketio-server.ts: the same connection path speaking the protocol
 * on Bun.serve websockets directly, what a socket could cost without Socket.IO's server objects.
 */
export async function startLeanSocketIo(): Promise<Spawned & { url: string }> {
  const server = await spawnBaseline(["bun", "bench/baselines/lean-socketio-server.ts"], { AUTH_JWT_SECRET: BENCH_JWT_SECRET, NODE_ENV: "production" });
  return { ...server, url: `http://127.0.0.1:${server.port}` };
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
