import type { Server as BunServer, ServerWebSocket } from "bun";
import { CONVERSATION_ROOM_PREFIX } from "./fanout";
import type { ChatServer, ChatSocket } from "./handlers";

/** Socket.IO's EVENT packet type (socket.io-parser) and Engine.IO's "message" frame prefix. */
const SOCKET_IO_EVENT = 2;
const ENGINE_MESSAGE = "4";

type EngineConnection = { transport: { name: string; socket?: ServerWebSocket<unknown> }; on(event: "upgrade", listener: () => void): void };
const engineOf = (socket: ChatSocket) => socket.conn as unknown as EngineConnection;

/**
 * Room broadcasts through Bun's native publish. Socket.IO writes a room broadcast to each socket
 * in JavaScript, one `send` per member; here the packet is encoded once and handed to Bun, which
 * writes it to every subscribed websocket in native code. Each websocket-transport socket is
 * subscribed to a Bun topic per room it is in (kept in step with Socket.IO's rooms through the
 * adapter's join/leave events); sockets still on long-polling are written to one by one, as
 * Socket.IO would.
 *
 * Bun topics belong to one server, and the service listens on two (PORT and WS_PORT), so a
 * publish goes to each.
 */
export class RoomPublisher {
  private readonly servers: BunServer<unknown>[] = [];
  /** Sockets not (yet) on the websocket transport, which publish cannot reach. */
  private readonly polling = new Set<ChatSocket>();

  constructor(private readonly io: ChatServer) {
    const nsp = io.of("/");
    nsp.adapter.on("join-room", (room: string, id: string) => {
      if (!isPublished(room)) return;
      const socket = nsp.sockets.get(id);
      if (socket) websocketOf(socket)?.subscribe(room);
    });
    nsp.adapter.on("leave-room", (room: string, id: string) => {
      if (!isPublished(room)) return;
      const socket = nsp.sockets.get(id);
      const ws = socket && websocketOf(socket);
      if (ws && ws.readyState === WebSocket.OPEN) ws.unsubscribe(room);
    });
  }

  /** A server whose websockets can be published to. */
  attach(server: BunServer<unknown>): void {
    this.servers.push(server);
  }

  /** Called for every new socket, before it joins any conversation room (the rooms published to). */
  track(socket: ChatSocket): void {
    if (websocketOf(socket)) return;
    this.polling.add(socket);
    engineOf(socket).on("upgrade", () => {
      this.polling.delete(socket);
      const ws = websocketOf(socket);
      if (ws) for (const room of socket.rooms) if (isPublished(room)) ws.subscribe(room);
    });
    socket.once("disconnect", () => this.polling.delete(socket));
  }

  /** Encodes `event` once: the frame published to websockets, the packet written to the others. */
  encode(event: string, payload: unknown): { frame: string; packet: string } {
    const [packet] = this.io.encoder.encode({ type: SOCKET_IO_EVENT, data: [event, payload], nsp: "/" }) as string[];
    return { frame: ENGINE_MESSAGE + packet, packet: packet! };
  }

  /** Delivers an encoded event to this instance's sockets in `room`. */
  publish(room: string, encoded: { frame: string; packet: string }): void {
    for (const server of this.servers) server.publish(room, encoded.frame);
    for (const socket of this.polling) {
      if (socket.rooms.has(room)) (socket.client as unknown as { writeToEngine(p: string[], o: object): void }).writeToEngine([encoded.packet], { preEncoded: true });
    }
  }
}

/** Conversation rooms are published natively; user rooms and the rest go through Socket.IO. */
const isPublished = (room: string) => room.startsWith(CONVERSATION_ROOM_PREFIX);

function websocketOf(socket: ChatSocket): ServerWebSocket<unknown> | undefined {
  const transport = engineOf(socket).transport;
  return transport.name === "websocket" ? transport.socket : undefined;
}
