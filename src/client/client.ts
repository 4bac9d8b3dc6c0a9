import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { ConversationState } from "./conversation";
import { ChatError, FINAL_REFUSALS, RETRYABLE, TOKEN_REFUSALS } from "./errors";
import { backoff, Listeners } from "./listeners";
import { ReadQueue } from "./queue";
import type { Ack, AckDataOf, ClientEvent, ClientToServerEvents, Conversation, Message, PayloadOf, Presence, ServerEvent, ServerToClientEvents, UnreadTotals } from "./wire";

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type ChatClientOptions = Partial<ManagerOptions & SocketOptions> & {
  /** The service's Socket.IO origin, e.g. `https://chat.example.com` (its `PORT` or `WS_PORT`). */
  url: string;
  /** A fresh token from the host application; called on every connect and reconnect. */
  token: () => Promise<string> | string;
  /** How long `emit` waits for an answer before rejecting with `TIMEOUT` (ms, default ACK_TIMEOUT_MS). */
  ackTimeoutMs?: number;
};

/** How long `emit` waits for an answer unless told otherwise (ms). */
export const ACK_TIMEOUT_MS = 10_000;

/**
 * `connecting`: first connect under way; `connected`: in all rooms, live; `reconnecting`: lost,
 * retrying (sends queue meanwhile); `refused`: the service refused the user for good (`FORBIDDEN`,
 * `USER_NOT_FOUND`, see `refusal`), no more retries; `closed`: `close()` was called.
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "refused" | "closed";

export interface ChatClient {
  readonly socket: ChatSocket;
  readonly status: ConnectionStatus;
  /** The connected user's external id, from the service's `connected` event. */
  readonly userId: string | null;
  /** Why the service refused the user, once `status` is `refused`. */
  readonly refusal: ChatError | null;
  /** Listens to a server→client event; returns the function that stops listening. */
  on<E extends ServerEvent>(event: E, listener: ServerToClientEvents[E]): () => void;
  /** Sends a client→server event; resolves with the ack's `data`, rejects with a ChatError. */
  emit<E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>>;
  /**
   * The state of a conversation, kept live and complete while open (the same object on every
   * call). Pass the Conversation (from REST or `conversation:new`) and/or its newest messages
   * to start from them; otherwise its whole history is synced.
   */
  conversation(conversation: string | Conversation, seed?: { messages?: Message[] }): ConversationState;
  /** Stops keeping a conversation. */
  closeConversation(conversationId: string): void;
  /**
   * The user's unread totals over all their conversations (muted ones included), as
   * `GET /api/me/unread` answers them. Listen to `conversation:unread`, `conversation:read` and
   * `message:new` to know when to ask again.
   */
  unread(): Promise<UnreadTotals>;
  /** Last known presence of a user (from the snapshots of open conversations and live events). */
  presence(userId: string): Presence | undefined;
  onPresence(listener: (presence: Presence) => void): () => void;
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
  /** The service refused the user for good (`FORBIDDEN`, `USER_NOT_FOUND`): no more reconnects. */
  onRefused(listener: (error: ChatError) => void): () => void;
  close(): void;
}

/**
 * A typed client of the chat service over socket.io-client. It connects at once, asks `token()`
 * for a fresh token on each (re)connect and after a `TOKEN_EXPIRED`/`UNAUTHORIZED`, resyncs every
 * open conversation after each reconnect, and stops for good on `FORBIDDEN`/`USER_NOT_FOUND`.
 */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const { url, token, ackTimeoutMs = ACK_TIMEOUT_MS, ...socketOptions } = options;
  const socket: ChatSocket = io(url, {
    ...socketOptions,
    autoConnect: false,
    auth: (send) => {
      Promise.resolve()
        .then(token)
        .then(
          (t) => send({ token: t }),
          () => send({}), // refused as UNAUTHORIZED, then retried with backoff
        );
    },
  });
  /** The same socket without the event maps, for the generic code below (typed at its own surface). */
  const raw = socket as unknown as { on(event: string, listener: (...args: any[]) => void): void; off(event: string, listener: (...args: any[]) => void): void; timeout(ms: number): Socket };

  let status: ConnectionStatus = "connecting";
  let userId: string | null = null;
  let refusal: ChatError | null = null;
  let lastServerError: ChatError | null = null;
  let attempts = 0;
  /** Counts `connected` events: work begun for one connect stops once another began. */
  let connects = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  const conversations = new Map<string, ConversationState>();
  const presence = new Map<string, Presence>();
  /** When each user's presence last changed live: a snapshot asked for before that is older. */
  const liveAt = new Map<string, number>();
  let clock = 0;
  const inFlight = new Set<(error: ChatError) => void>();
  const statusListeners = new Listeners<[ConnectionStatus]>();
  const refusedListeners = new Listeners<[ChatError]>();
  const presenceListeners = new Listeners<[Presence]>();

  const setStatus = (next: ConnectionStatus) => {
    if (status === next) return;
    status = next;
    statusListeners.emit(next);
  };

  const emit = <E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>> =>
    new Promise((resolve, reject) => {
      // While reconnecting, socket.io-client keeps the event and sends it once connected; after
      // a refusal or close() nothing will ever send it.
      if (status === "refused" || status === "closed") return reject(refusal ?? new ChatError("DISCONNECTED", "The client is closed"));
      const fail = (error: ChatError) => {
        inFlight.delete(fail);
        reject(error);
      };
      inFlight.add(fail);
      raw.timeout(ackTimeoutMs).emit(event, payload, (err: Error | null, res: Ack<AckDataOf<E>>) => {
        if (!inFlight.delete(fail)) return;
        if (err) reject(new ChatError("TIMEOUT", `No answer to ${event} within ${ackTimeoutMs} ms`));
        else if (res.ok) resolve(res.data);
        else reject(new ChatError(res.error.code, res.error.message, res.error.details));
      });
    });

  const reads = new ReadQueue();
  const read = <E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>> =>
    reads.run(() => (status === "connected" ? emit(event, payload) : Promise.reject(new ChatError("DISCONNECTED", "Not connected"))));

  const link = {
    get connected() {
      return status === "connected";
    },
    get userId() {
      return userId;
    },
    emit,
    read,
  };

  const setPresence = (p: Presence, live: boolean) => {
    const held = presence.get(p.userId);
    presence.set(p.userId, p);
    if (live) liveAt.set(p.userId, ++clock);
    // While online, when the user came online matters to nobody: only a change of status, or of
    // the time an offline user was last seen, is news.
    if (held && held.status === p.status && (p.status === "online" || held.lastSeen === p.lastSeen)) return;
    presenceListeners.emit(p);
  };

  const loadPresence = async (conversationId: string) => {
    const connect = connects;
    const current = () => status === "connected" && connects === connect && conversations.has(conversationId);
    for (let failures = 0; ; failures++) {
      const asked = clock;
      try {
        const snapshot = await read("presence:get", { conversationId });
        for (const p of snapshot.data) if ((liveAt.get(p.userId) ?? -1) <= asked) setPresence(p, false);
        return;
      } catch (error) {
        // Disconnected: the next connect asks again. No longer a participant: nothing to ask.
        // A passing failure (a busy instance answers UNAVAILABLE right after a failover): asked
        // again after a backoff, as a sync is.
        const code = error instanceof ChatError ? error.code : "INTERNAL";
        if (!RETRYABLE.has(code) || code === "DISCONNECTED" || !current()) return;
        await new Promise((resolve) => setTimeout(resolve, backoff(failures)));
        // A reconnect meanwhile asked again itself.
        if (!current()) return;
      }
    }
  };

  const open = (state: ConversationState) => {
    if (status !== "connected") return;
    void state.sync();
    void state.pump();
    void loadPresence(state.id);
  };

  const reconnectLater = () => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (status !== "closed" && status !== "refused" && !socket.active) socket.connect();
    }, backoff(attempts++, 250));
  };

  const refuse = (error: ChatError) => {
    refusal = error;
    clearTimeout(retryTimer);
    setStatus("refused");
    socket.disconnect();
    refusedListeners.emit(error);
  };

  socket.on("connected", (info) => {
    connects++;
    userId = info.userId;
    attempts = 0;
    lastServerError = null;
    setStatus("connected");
    for (const state of conversations.values()) open(state);
  });

  socket.on("error", (error) => {
    lastServerError = new ChatError(error.code, error.message);
    if (FINAL_REFUSALS.has(error.code)) refuse(lastServerError);
  });

  socket.on("disconnect", (reason) => {
    for (const fail of [...inFlight]) fail(new ChatError("DISCONNECTED", `Disconnected (${reason}) before the answer`));
    for (const state of conversations.values()) state.onDisconnect();
    if (status === "closed" || status === "refused") return;
    setStatus("reconnecting");
    // The service ended the connection (an expired or revoked token, say): socket.io-client
    // does not come back by itself after that. A new connect asks for a fresh token.
    if (reason === "io server disconnect") {
      if (lastServerError && FINAL_REFUSALS.has(lastServerError.code)) refuse(lastServerError);
      else reconnectLater();
    }
  });

  socket.on("connect_error", (err: Error & { data?: { code?: string; message?: string } }) => {
    if (status === "closed" || status === "refused") return;
    const code = err.data?.code as ChatError["code"] | undefined;
    if (code && FINAL_REFUSALS.has(code)) return refuse(new ChatError(code, err.data?.message ?? err.message));
    if (status === "connected") setStatus("reconnecting");
    // A refusal by the service's handshake (a stale token: TOKEN_REFUSALS, or an outage) leaves
    // the socket inactive; transport failures are retried by socket.io-client's own manager.
    if (!socket.active || (code && TOKEN_REFUSALS.has(code))) reconnectLater();
  });

  const route = <E extends ServerEvent>(event: E, toState: (state: ConversationState, payload: Parameters<ServerToClientEvents[E]>[0]) => void) => {
    raw.on(event, (payload: Parameters<ServerToClientEvents[E]>[0] & { conversationId: string }) => {
      const state = conversations.get(payload.conversationId);
      if (state) toState(state, payload);
    });
  };
  route("message:new", (s, m) => s.onMessage(m));
  route("message:updated", (s, u) => s.onUpdated(u));
  route("message:deleted", (s, d) => s.onDeleted(d));
  route("thread:updated", (s, t) => s.onThread(t));
  route("message:pinned", (s, p) => s.onPinned(p));
  route("message:unpinned", (s, u) => s.onUnpinned(u));
  route("reaction:added", (s, c) => s.onReaction(c, true));
  route("reaction:removed", (s, c) => s.onReaction(c, false));
  route("message:read", (s, r) => s.onRead(r));
  route("conversation:read", (s, r) => s.onRead(r));
  route("user:typing", (s, i) => s.onIndicator(i));
  // lastSeen is when the user last came online or went offline, as the service reports it.
  socket.on("user:online", (u) => setPresence({ userId: u.userId, status: "online", lastSeen: u.timestamp }, true));
  socket.on("user:offline", (u) => setPresence({ userId: u.userId, status: "offline", lastSeen: u.lastSeen }, true));

  socket.connect();

  return {
    socket,
    get status() {
      return status;
    },
    get userId() {
      return userId;
    },
    get refusal() {
      return refusal;
    },
    on(event, listener) {
      raw.on(event, listener as (...args: unknown[]) => void);
      return () => void raw.off(event, listener as (...args: unknown[]) => void);
    },
    emit,
    conversation(conversation, seed = {}) {
      const id = typeof conversation === "string" ? conversation : conversation.id;
      let state = conversations.get(id);
      if (!state) {
        state = new ConversationState(id, link, { ...seed, conversation: typeof conversation === "string" ? undefined : conversation });
        conversations.set(id, state);
        open(state);
      } else if (seed.messages) {
        state.merge(seed.messages);
      }
      return state;
    },
    closeConversation(conversationId) {
      conversations.get(conversationId)?.close();
      conversations.delete(conversationId);
    },
    unread: () => read("unread:get", {}),
    presence: (id) => presence.get(id),
    onPresence: (listener) => presenceListeners.add(listener),
    onStatus: (listener) => statusListeners.add(listener),
    onRefused: (listener) => refusedListeners.add(listener),
    close() {
      clearTimeout(retryTimer);
      setStatus("closed");
      for (const state of conversations.values()) state.close();
      socket.disconnect();
    },
  };
}
