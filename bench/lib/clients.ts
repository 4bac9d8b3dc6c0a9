import { io, type Socket } from "socket.io-client";
import { connectLite, type LiteSocket } from "./lite-client";
import { pool, progress, progressDone } from "./stats";

/** Connects one authenticated socket and resolves once the server's `connected` arrived. */
export function connectChatSocket(url: string, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 20_000 });
    const timer = setTimeout(() => reject(new Error("connect timeout")), 30_000);
    socket.once("connected", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function connectMany(url: string, tokens: string[], concurrency: number, label: string): Promise<{ sockets: Socket[]; seconds: number }> {
  return connectManyWith(connectChatSocket, url, tokens, concurrency, label);
}

/**
 * Connects with the receive-only client (see lite-client.ts): the same handshake on the wire, but
 * without socket.io-client's per-socket work, which would otherwise set the connect rate.
 */
export function connectManyLite(url: string, tokens: string[], concurrency: number, label: string): Promise<{ sockets: LiteSocket[]; seconds: number }> {
  return connectManyWith(connectLite, url, tokens, concurrency, label);
}

async function connectManyWith<S>(connect: (url: string, token: string) => Promise<S>, url: string, tokens: string[], concurrency: number, label: string): Promise<{ sockets: S[]; seconds: number }> {
  const sockets: S[] = new Array(tokens.length);
  const started = performance.now();
  let done = 0;
  await pool(tokens, concurrency, async (token, i) => {
    sockets[i] = await connect(url, token);
    if (++done % 500 === 0 || done === tokens.length) progress(`${label}: ${done}/${tokens.length} sockets`);
  });
  progressDone();
  return { sockets, seconds: (performance.now() - started) / 1000 };
}

export function closeAll(sockets: { close(): void }[]): void {
  for (const s of sockets) s?.close();
}
