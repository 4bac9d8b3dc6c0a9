/**
 * The typed Socket.IO event maps. They are defined once, with the objects they carry, in the wire
 * module the client SDK is built on (src/client/wire.ts); the TypeBox models are checked against
 * them in ./wire-conformance.ts. Only what stays inside the server is defined here.
 */
import type { ErrorCode } from "../../client/wire";
import type { Actor } from "../auth";

export type {
  Ack,
  ClientToServerEvents,
  Connected,
  Conversation,
  ConversationRead,
  Indicator,
  Message,
  MessageDeleted,
  MessageRead,
  MessageUpdated,
  Participant,
  Presence,
  ReactionChange,
  ServerToClientEvents,
  SocketError,
  UserOffline,
  UserOnline,
} from "../../client/wire";

/**
 * Between instances (through the Redis adapter): room moves and disconnects made on one instance,
 * for the sockets connected to the others. The instance that made the change applies it to its
 * own sockets at once, before it emits anything that depends on it.
 */
export interface InterServerEvents {
  "room:move": (move: { userIds: string[]; conversationId: string; join: boolean }) => void;
  "user:disconnect": (userId: string, reason?: { code: ErrorCode; message: string }) => void;
  "user:revoke": (userId: string, revokedBefore: number) => void;
  /** A conversation-room event, encoded once by the instance that emitted it (see RoomPublisher). */
  "room:publish": (room: string, encoded: { frame: string; packet: string }) => void;
}

export type SocketData = {
  actor: Actor;
  /** Typing/recording indicators this socket started and has not stopped (made on the first). */
  indicators?: Set<string>;
  /** The socket's indicator changes, chained so that they apply in the order they arrived. */
  indicatorChanges?: Promise<unknown>;
};
