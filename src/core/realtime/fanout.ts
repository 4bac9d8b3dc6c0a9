import type { ErrorCode, ServerEvent, ServerToClientEvents } from "../../client/wire";

export type { ServerEvent };
export type ServerPayload<E extends ServerEvent> = Parameters<ServerToClientEvents[E]>[0];

export const CONVERSATION_ROOM_PREFIX = "conv:";
export const conversationRoom = (conversationId: string) => `${CONVERSATION_ROOM_PREFIX}${conversationId}`;
export const userRoom = (userId: string) => `user:${userId}`;

/**
 * How service functions reach sockets. Calls are made after the change committed; with the
 * Redis adapter they reach sockets on every instance.
 */
export interface Fanout {
  /** `except`: users whose sockets must not get it (the sender of a typing event, users the subject blocks). */
  toConversation<E extends ServerEvent>(conversationId: string, event: E, payload: ServerPayload<E>, except?: string | readonly string[]): void;
  toUsers<E extends ServerEvent>(userIds: string[], event: E, payload: ServerPayload<E>): void;
  /** Sockets of these users join (or leave) the conversation's room, wherever they are connected. */
  joinConversation(userIds: string[], conversationId: string): Promise<void>;
  leaveConversation(userIds: string[], conversationId: string): Promise<void>;
  /** Tells every socket of the user why (default: deleted through the internal API), then ends them, on every instance. */
  disconnectUser(userId: string, reason?: { code: ErrorCode; message: string }): Promise<void>;
  /** Ends the user's sockets whose token a revocation up to `revokedBefore` (Unix seconds) covers. */
  disconnectRevoked(userId: string, revokedBefore: number): void;
}
