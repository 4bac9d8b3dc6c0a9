import type { ErrorCode } from "../../client/wire";
import { isRevoked } from "../auth";

type Refusal = { code: ErrorCode; message: string };

/**
 * A socket being authenticated: the room moves of its user made since its conversations were
 * read, and the reason it must be ended, if its user was deleted, suspended or had this token
 * revoked meanwhile.
 */
export type Connecting = { userId: string; issuedAt: number | null; moves: [conversationId: string, join: boolean][]; refusal?: Refusal };

/**
 * A new socket reads its user and that user's conversations in one statement, before it is
 * connected, so before it is in its user room, where room moves and disconnects reach it. What
 * reaches its user meanwhile, on this instance or from another, is noted here and applied when it
 * joins: a room move over the list it read (a move seen here was committed before the socket
 * joined its user room, either before the read, which has it already and is not changed by it
 * again, or after, which lacks it); a disconnect by ending the socket at once. What comes after
 * the socket joined its user room reaches it there.
 */
export class ConnectingSockets {
  private readonly byUser = new Map<string, Set<Connecting>>();

  /** Users with a socket being authenticated. */
  get size(): number {
    return this.byUser.size;
  }

  /** Starts noting what reaches the user; call before the read. */
  open(userId: string, issuedAt: number | null): Connecting {
    const connecting: Connecting = { userId, issuedAt, moves: [] };
    let all = this.byUser.get(userId);
    if (!all) this.byUser.set(userId, (all = new Set()));
    all.add(connecting);
    return connecting;
  }

  /** A room move of these users, applied to their sockets on this instance. */
  moved(userIds: string[], conversationId: string, join: boolean): void {
    if (this.byUser.size === 0) return;
    for (const userId of userIds) {
      for (const connecting of this.byUser.get(userId) ?? []) connecting.moves.push([conversationId, join]);
    }
  }

  /** Every socket of the user is ended, for this reason. */
  disconnected(userId: string, reason: Refusal): void {
    for (const connecting of this.byUser.get(userId) ?? []) connecting.refusal ??= reason;
  }

  /** The user's sockets whose token a revocation up to `revokedBefore` covers are ended. */
  revoked(userId: string, revokedBefore: number): void {
    for (const connecting of this.byUser.get(userId) ?? []) {
      if (isRevoked(connecting.issuedAt, revokedBefore)) connecting.refusal ??= { code: "UNAUTHORIZED", message: "Token was revoked" };
    }
  }

  /** Stops noting; answers the conversations read, with the moves noted since applied in order. */
  close(connecting: Connecting, conversationIds: string[]): string[] {
    const all = this.byUser.get(connecting.userId);
    if (all?.delete(connecting) && all.size === 0) this.byUser.delete(connecting.userId);
    if (connecting.moves.length === 0) return conversationIds;
    const rooms = new Set(conversationIds);
    for (const [conversationId, join] of connecting.moves) {
      if (join) rooms.add(conversationId);
      else rooms.delete(conversationId);
    }
    return [...rooms];
  }
}
