/** What every fault test sets up the same way: its teardown, client sockets, and no rate limits. */
import { afterAll } from "bun:test";
import type { Socket } from "socket.io-client";
import { io } from "socket.io-client";
import type { Instance } from "../helpers/instances";
import { mintToken } from "../helpers/service";

/** Bursts of sends are the point: no budget gets in their way. */
export const UNLIMITED = { RATE_LIMIT_MESSAGES: "100000", RATE_LIMIT_EVENTS: "100000" };

/** What a test file started, torn down after its tests whatever happened: sockets first, then the rest in reverse. */
export function teardown() {
  const cleanups: (() => unknown)[] = [];
  const sockets: Socket[] = [];
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  }, 60_000);
  return {
    later(cleanup: () => unknown) {
      cleanups.push(cleanup);
    },
    /** A client socket on one instance, connected and in its rooms. */
    async socketOn(instance: Instance, userId: string): Promise<Socket> {
      const socket = io(instance.wsUrl, { auth: { token: await mintToken(userId) }, transports: ["websocket"], reconnection: false, forceNew: true });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connected", () => resolve());
        socket.once("connect_error", reject);
      });
      return socket;
    },
  };
}
