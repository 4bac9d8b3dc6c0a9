/**
 * The typed Socket.IO event maps, composed from every feature. A TypeScript front end imports
 * these types for `io<ServerToClientEvents, ClientToServerEvents>(url)`.
 */
import type { ConversationClientEvents, ConversationServerEvents } from "../../conversations/model";
import type { MessageClientEvents, MessageServerEvents } from "../../messages/model";
import type { PresenceClientEvents, PresenceServerEvents } from "../../presence/model";
import type { ReactionClientEvents, ReactionServerEvents } from "../../reactions/model";
import type { ReceiptClientEvents, ReceiptServerEvents } from "../../receipts/model";
import type { Actor } from "../auth";
import type { ErrorCode } from "../errors";
import type { Ack } from "./ack";

export type { Ack } from "./ack";
export type { Conversation, Participant } from "../../conversations/model";
export type { Message, MessageDeleted, MessageUpdated } from "../../messages/model";
export type { Indicator, Presence, UserOffline, UserOnline } from "../../presence/model";
export type { ReactionChange } from "../../reactions/model";
export type { ConversationRead, MessageRead } from "../../receipts/model";

export type Connected = { userId: string; socketId: string; rooms: string[]; timestamp: string };
export type SocketError = { code: ErrorCode; message: string; timestamp: string };

interface CoreClientEvents {
  ping: (payload?: Record<string, never>, ack?: (res: Ack<{ timestamp: string }>) => void) => void;
}
interface CoreServerEvents {
  connected: (info: Connected) => void;
  error: (error: SocketError) => void;
}

export interface ClientToServerEvents
  extends CoreClientEvents,
    MessageClientEvents,
    ReactionClientEvents,
    ReceiptClientEvents,
    PresenceClientEvents,
    ConversationClientEvents {}

export interface ServerToClientEvents
  extends CoreServerEvents,
    MessageServerEvents,
    ReactionServerEvents,
    ReceiptServerEvents,
    PresenceServerEvents,
    ConversationServerEvents {}

/**
 * Between instances (through the Redis adapter): room moves and disconnects made on one instance,
 * for the sockets connected to the others. The instance that made the change applies it to its
 * own sockets at once, before it emits anything that depends on it.
 */
export interface InterServerEvents {
  "room:move": (move: { userIds: string[]; conversationId: string; join: boolean }) => void;
  "user:disconnect": (userId: string) => void;
  "user:revoke": (userId: string, revokedBefore: number) => void;
  /** A conversation-room event, encoded once by the instance that emitted it (see RoomPublisher). */
  "room:publish": (room: string, encoded: { frame: string; packet: string }) => void;
}

export type SocketData = {
  actor: Actor;
  /** `<instance>:<socket id>`: this connection's entry in the presence store. */
  connectionId: string;
  /** Typing/recording indicators this socket started and has not stopped. */
  indicators: Set<string>;
};
