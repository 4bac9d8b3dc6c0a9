/** A socket being authenticated: the room moves of its user made since its conversations were read. */
export type Connecting = { userId: string; moves: [conversationId: string, join: boolean][] };

/**
 * A new socket reads its user and that user's conversations in one statement, before it is
 * connected, so before it is in its user room, where room moves reach it. The moves of its user
 * made meanwhile, on this instance or on another, are noted here and applied over the list it
 * read: a move seen here was committed before the socket joined its user room, either before the
 * read (the list has it already, and applying it again changes nothing) or after (the list lacks
 * it). Moves made after the socket joined its user room reach it there.
 */
export class ConnectingSockets {
  private readonly byUser = new Map<string, Set<Connecting>>();

  /** Users with a socket being authenticated. */
  get size(): number {
    return this.byUser.size;
  }

  /** Starts noting the user's moves; call before the read. */
  open(userId: string): Connecting {
    const connecting: Connecting = { userId, moves: [] };
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
