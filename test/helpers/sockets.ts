import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type { ClientToServerEvents, Connected, ServerEvent, ServerToClientEvents } from "../../src/client/wire";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
const open = new Set<ClientSocket>();

/** Connects a real socket.io-client and waits for the server's `connected` event. */
export async function connectSocket(
  url: string,
  token: string | undefined,
  opts: Partial<ManagerOptions & SocketOptions> = {},
): Promise<{ socket: ClientSocket; connected: Connected }> {
  const socket: ClientSocket = io(url, {
    auth: token === undefined ? {} : { token },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...opts,
  });
  open.add(socket);
  const connected = await new Promise<Connected>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no `connected` event within 5 s")), 5000);
    socket.once("connected", (info) => {
      clearTimeout(timer);
      resolve(info);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
  return { socket, connected };
}

/** The connect_error a refused handshake produces (`data.code` is the contract's code). */
export async function connectError(url: string, token: string | undefined, opts: Partial<ManagerOptions & SocketOptions> = {}) {
  const socket: ClientSocket = io(url, { auth: token === undefined ? {} : { token }, transports: ["websocket"], reconnection: false, forceNew: true, ...opts });
  open.add(socket);
  return new Promise<Error & { data?: { code: string; message: string } }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("neither connect_error nor connect within 5 s")), 5000);
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      resolve(err as Error & { data?: { code: string; message: string } });
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.close();
      reject(new Error("connected, but a refusal was expected"));
    });
  });
}

/** What the server sends with `event`. */
type EventOf<E extends ServerEvent> = Parameters<ServerToClientEvents[E]>[0];

/** Records every `event` a socket receives from now on. */
export function record<E extends ServerEvent>(socket: ClientSocket, event: E): EventOf<E>[] {
  const seen: EventOf<E>[] = [];
  (socket as unknown as Socket).on(event as string, (payload: EventOf<E>) => seen.push(payload));
  return seen;
}

/** Waits for the next `event` that satisfies `match`. Register before acting. */
export function nextEvent<E extends ServerEvent>(
  socket: ClientSocket,
  event: E,
  match: (payload: EventOf<E>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<EventOf<E>> {
  return new Promise((resolve, reject) => {
    const s = socket as unknown as Socket;
    const listener = (payload: EventOf<E>) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      s.off(event as string, listener);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      s.off(event as string, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on(event as string, listener);
  });
}

/** Polls `condition` until true or the time is up. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await condition()) return;
    await Bun.sleep(20);
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`);
}

export function closeAllSockets(): void {
  for (const s of open) s.close();
  open.clear();
}
