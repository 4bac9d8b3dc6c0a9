import type { Socket } from "socket.io-client";
import { io } from "socket.io-client";
import type { Instance } from "../helpers/instances";
import { mintToken } from "../helpers/service";

/** A client socket on one instance, connected and in its rooms; `sockets` collects it for closing. */
export async function socketOn(instance: Instance, userId: string, sockets: Socket[]): Promise<Socket> {
  const socket = io(instance.wsUrl, { auth: { token: await mintToken(userId) }, transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connected", () => resolve());
    socket.once("connect_error", reject);
  });
  return socket;
}
