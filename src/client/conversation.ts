import { ChatError, RETRYABLE } from "./errors";
import { backoff, Listeners, randomId } from "./listeners";
import type {
  AckDataOf,
  Attachment,
  ClientEvent,
  Conversation,
  ConversationRead,
  ConversationUnread,
  Indicator,
  Message,
  MessageDeleted,
  MessageList,
  MessagePinned,
  MessageRead,
  MessageUnpinned,
  MessageUpdated,
  Metadata,
  PayloadOf,
  ReactionChange,
  ThreadUpdated,
} from "./wire";

/** What a conversation needs from the client that owns it. */
export interface ClientLink {
  readonly connected: boolean;
  readonly userId: string | null;
  emit<E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>>;
  /** The same for the client's own reads: queued a few at a time, retried when rate-limited. */
  read<E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>>;
}

/** `parentId`: a top-level message of the conversation, to send the message as a reply in its thread. `mentions`: up to 50 external ids of participants of the conversation. */
export type Draft = { content?: string; attachments?: Attachment[]; replyTo?: string | null; parentId?: string | null; metadata?: Metadata; mentions?: string[] };

/** A page of a thread, as `GET /api/messages/:id/replies` takes it: the newest `limit`, or before/after a reply. */
export type RepliesPage = { limit?: number; before?: string; after?: string };

/** A page of pins, as `GET /api/conversations/:id/pins` takes it: `cursor` is a page's `nextCursor`. */
export type PinsPage = { limit?: number; cursor?: string };

/** A send not yet acknowledged: shown at once, retried across reconnects until the service stores it. */
export type PendingMessage = Draft & {
  clientMessageId: string;
  conversationId: string;
  /** `failed`: refused for good (see `error`); `retry()` sends it again, `discard()` drops it. */
  status: "sending" | "failed";
  error: ChatError | null;
  createdAt: string;
};

type Outgoing = PendingMessage & { attempts: number; settle(result: { message: Message } | { error: ChatError }): void };

/** Typing start is re-sent at most this often while typing goes on (the service expires it after TYPING_TTL_MS). */
export const TYPING_RESEND_MS = 2000;
/** Typing stops this long after the last keystroke. */
export const TYPING_IDLE_MS = 3000;

/**
 * The state of one open conversation, kept in `seq` order: messages confirmed by the service,
 * sends still pending, who is typing and how far each participant has read. It stays complete
 * by `messages:sync` from the last contiguous `seq` it holds, after every (re)connect and whenever
 * a `message:new` skips a `seq`.
 */
export class ConversationState {
  private readonly byId = new Map<string, Message>();
  private readonly bySeq = new Map<number, Message>();
  private sorted: Message[] | null = [];
  private outbox: Outgoing[] = [];
  private pendingView: PendingMessage[] | null = [];
  /** Every message up to this seq is held; undefined until the first sync (or seed). */
  private syncedSeq: number | undefined;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private syncFailures = 0;
  private syncRetry: ReturnType<typeof setTimeout> | undefined;
  private pumping = false;
  private readonly typers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly readSeq = new Map<string, number>();
  private typingSince = 0;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;
  private notifyQueued = false;
  private readonly changed = new Listeners<[]>();
  closed = false;

  constructor(
    readonly id: string,
    private readonly link: ClientLink,
    seed: { conversation?: Conversation; messages?: Message[] } = {},
  ) {
    for (const p of seed.conversation?.participants ?? []) this.readSeq.set(p.userId, p.lastReadSeq);
    const known = [...(seed.messages ?? []), ...(seed.conversation?.lastMessage ? [seed.conversation.lastMessage] : [])];
    for (const m of known) this.put(m);
    // A seed is the newest of the conversation: sync continues after it rather than from the start.
    if (known.length > 0) this.syncedSeq = Math.max(...known.map((m) => m.seq));
  }

  /**
   * Confirmed messages, ascending `seq`; a new array after each change. Replies are among them
   * (they take the conversation's seqs): `topLevel` leaves them out, `thread()` has one thread's.
   */
  get messages(): readonly Message[] {
    return (this.sorted ??= [...this.bySeq.values()].sort((a, b) => a.seq - b.seq));
  }

  /** Confirmed top-level messages, ascending `seq`. */
  get topLevel(): readonly Message[] {
    return this.messages.filter((m) => m.parentId === null);
  }

  /** The replies held of one thread, ascending `seq` (`replies()` fetches more). */
  thread(parentId: string): readonly Message[] {
    return this.messages.filter((m) => m.parentId === parentId);
  }

  /**
   * Fetches a page of a thread's replies (the newest `limit`, default 50, or before/after a reply,
   * as REST pages), keeps them with the conversation's messages and resolves with the page.
   */
  async replies(parentId: string, page: RepliesPage = {}): Promise<MessageList> {
    const list = await this.link.read("thread:replies", { parentId, ...page });
    this.merge(list.data);
    return list;
  }

  /** Sends not yet confirmed, in the order they were made. */
  get pending(): readonly PendingMessage[] {
    return (this.pendingView ??= this.outbox.map(({ attempts: _a, settle: _s, ...view }) => view));
  }

  /** Users typing now, other than this client's user. */
  get typingUsers(): readonly string[] {
    return [...this.typers.keys()];
  }

  /** Each participant's read watermark (`seq`), as far as this client has seen. */
  get reads(): ReadonlyMap<string, number> {
    return this.readSeq;
  }

  /** Participants (other than `userId`) who have read the message of this `seq`. */
  readBy(seq: number, exceptUserId = this.link.userId): string[] {
    return [...this.readSeq].filter(([user, read]) => read >= seq && user !== exceptUserId).map(([user]) => user);
  }

  /** Calls `listener` (once per burst of changes) whenever anything above changes. */
  onChange(listener: () => void): () => void {
    return this.changed.add(listener);
  }

  /**
   * Sends a message: it appears in `pending` at once, with a generated clientMessageId, and is sent
   * (again after each reconnect, in order) until the service acknowledges it; the service stores it
   * once whatever the retries. Resolves with the stored message; rejects only on a refusal no
   * retry can cure (validation, permissions), leaving it in `pending` as `failed`.
   */
  send(draft: Draft): Promise<Message> {
    this.stopTyping();
    let settle!: Outgoing["settle"];
    const result = new Promise<Message>((resolve, reject) => {
      settle = (r) => ("message" in r ? resolve(r.message) : reject(r.error));
    });
    // Awaiting it is optional: an ignored refusal must not surface as an unhandled rejection.
    result.catch(() => {});
    const createdAt = new Date().toISOString();
    this.outbox.push({ ...draft, clientMessageId: randomId(), conversationId: this.id, status: "sending", error: null, createdAt, attempts: 0, settle });
    this.changedPending();
    void this.pump();
    return result;
  }

  /** Sends a failed message again, with the same clientMessageId. */
  retry(clientMessageId: string): void {
    const item = this.outbox.find((o) => o.clientMessageId === clientMessageId && o.status === "failed");
    if (!item) return;
    Object.assign(item, { status: "sending", error: null, attempts: 0 });
    this.changedPending();
    void this.pump();
  }

  /** Drops a failed message from `pending`. */
  discard(clientMessageId: string): void {
    this.outbox = this.outbox.filter((o) => !(o.clientMessageId === clientMessageId && o.status === "failed"));
    this.changedPending();
  }

  /**
   * Call on each keystroke: announces typing (again every TYPING_RESEND_MS while it goes on) and
   * stops it TYPING_IDLE_MS after the last call. Nothing is sent while disconnected.
   */
  typing(): void {
    if (!this.link.connected) return;
    const now = Date.now();
    if (now - this.typingSince >= TYPING_RESEND_MS) {
      this.typingSince = now;
      this.link.emit("typing:start", { conversationId: this.id }).catch(() => {});
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping(): void {
    clearTimeout(this.typingIdle);
    this.typingIdle = undefined;
    if (this.typingSince === 0) return;
    this.typingSince = 0;
    if (this.link.connected) this.link.emit("typing:stop", { conversationId: this.id }).catch(() => {});
  }

  /**
   * Edits one of the user's messages; `mentions`, when given, replace its mentions (without them it
   * keeps its own). Resolves with the edited message, which this state holds from then on.
   */
  async edit(messageId: string, edit: { content: string; mentions?: string[] }): Promise<Message> {
    const message = await this.link.emit("message:edit", { messageId, ...edit });
    this.put(message);
    this.notify();
    return message;
  }

  /**
   * Marks the conversation unread from a message on, for this user only (their other devices get
   * `conversation:unread`): their unread counts count from it again until they read again. Others
   * still see the read receipts already given.
   */
  markUnread(messageId: string): Promise<ConversationUnread> {
    return this.link.emit("conversation:unread", { conversationId: this.id, messageId });
  }

  /**
   * Pins a message to the conversation (either side of a direct conversation, an owner or admin
   * of a group); pinning a pinned one changes nothing. The held message shows its pin at once.
   */
  async pin(messageId: string): Promise<MessagePinned> {
    const pinned = await this.link.emit("message:pin", { messageId });
    this.onPinned(pinned);
    return pinned;
  }

  /** Unpins a message (also when it is not pinned). */
  async unpin(messageId: string): Promise<MessageUnpinned> {
    const unpinned = await this.link.emit("message:unpin", { messageId });
    this.onUnpinned(unpinned);
    return unpinned;
  }

  /**
   * Fetches a page of the conversation's pinned messages, most recently pinned first, keeps them
   * with its messages and resolves with the page (pass its `nextCursor` as `cursor` for the next).
   */
  async pins(page: PinsPage = {}): Promise<MessageList> {
    const list = await this.link.read("pins:list", { conversationId: this.id, ...page });
    this.merge(list.data);
    return list;
  }

  /** Adds messages fetched elsewhere (older history from REST, say); duplicates are merged by id. */
  merge(messages: readonly Message[]): void {
    for (const m of messages) this.put(m);
    this.advance();
    this.notify();
  }

  /**
   * Fetches every message after the last contiguous `seq` held, page by page. Concurrent calls
   * share one run, and a call made during a run makes it go round once more.
   */
  sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.syncAgain = false;
          await this.syncOnce();
        } while (this.syncAgain && this.link.connected && !this.closed);
        this.syncFailures = 0;
      } catch (error) {
        // Disconnected: the next connect syncs again. A passing failure: try again shortly.
        // Refused (no longer a participant, say): left as it is.
        const code = error instanceof ChatError ? error.code : "INTERNAL";
        if (RETRYABLE.has(code) && code !== "DISCONNECTED" && this.link.connected && !this.closed) {
          clearTimeout(this.syncRetry);
          this.syncRetry = setTimeout(() => void this.sync(), backoff(this.syncFailures++));
        }
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    let hasMore = true;
    while (hasMore && this.link.connected && !this.closed) {
      // By seq, not by message id: a message the service no longer keeps (retention) is still a
      // place to sync from (the answer then says `truncated`, starting at the oldest kept one).
      const page = await this.link.read("messages:sync", { conversationId: this.id, afterSeq: this.syncedSeq ?? 0 });
      for (const m of page.messages) this.put(m);
      // A page is contiguous from where it started: everything up to its last message is held.
      const last = page.messages[page.messages.length - 1];
      this.syncedSeq = Math.max(this.syncedSeq ?? 0, last?.seq ?? 0);
      hasMore = page.hasMore && page.messages.length > 0;
      this.advance();
      this.notify();
    }
  }

  /** Sends the outbox in order, one at a time, while connected. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const next = this.outbox.find((o) => o.status === "sending");
        if (!next || !this.link.connected || this.closed) return;
        const { clientMessageId, content, attachments, replyTo, parentId, metadata, mentions } = next;
        try {
          const message = await this.link.emit("message:send", { conversationId: this.id, clientMessageId, content, attachments, replyTo, parentId, metadata, mentions });
          this.merge([message]);
          this.settleOutgoing(clientMessageId, { message });
        } catch (e) {
          const error = e instanceof ChatError ? e : new ChatError("INTERNAL", String(e));
          if (!RETRYABLE.has(error.code)) {
            Object.assign(next, { status: "failed", error });
            next.settle({ error });
            this.changedPending();
            continue;
          }
          if (!this.link.connected) return; // the next connect resumes
          const retryAfter = (error.details as { retryAfter?: number } | undefined)?.retryAfter;
          await sleep(retryAfter ? retryAfter * 1000 : backoff(next.attempts++));
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  // ----- events from the service, routed here by the client -----

  onMessage(m: Message): void {
    this.put(m);
    if (this.syncedSeq !== undefined && m.seq > this.syncedSeq + 1 && !this.bySeq.has(this.syncedSeq + 1)) void this.sync();
    this.advance();
    this.notify();
  }

  onUpdated(u: MessageUpdated): void {
    this.patch(u.messageId, { content: u.content, mentions: u.mentions, isEdited: u.isEdited, updatedAt: u.updatedAt, editedAt: u.editedAt });
  }

  onDeleted(d: MessageDeleted): void {
    this.patch(d.messageId, { isDeleted: true, content: "", attachments: [], metadata: {}, mentions: [], pinnedAt: null, pinnedBy: null, deletedAt: d.deletedAt, updatedAt: d.deletedAt });
  }

  /** A thread's counters as the service now has them (a reply was stored or deleted). */
  onThread(thread: ThreadUpdated): void {
    this.patch(thread.parentId, { replyCount: thread.replyCount, lastReplyAt: thread.lastReplyAt });
  }

  onPinned(pinned: MessagePinned): void {
    this.patch(pinned.messageId, { pinnedAt: pinned.pinnedAt, pinnedBy: pinned.pinnedBy });
  }

  onUnpinned(unpinned: MessageUnpinned): void {
    this.patch(unpinned.messageId, { pinnedAt: null, pinnedBy: null });
  }

  onReaction(change: ReactionChange, added: boolean): void {
    const m = this.byId.get(change.messageId);
    if (!m) return;
    const others = m.reactions.filter((r) => r.emoji !== change.emoji);
    const before = m.reactions.find((r) => r.emoji === change.emoji)?.userIds.filter((u) => u !== change.userId) ?? [];
    const userIds = added ? [...before, change.userId] : before;
    const reactions = change.totalCount > 0 ? [...others, { emoji: change.emoji, count: change.totalCount, userIds }] : others;
    this.patch(m.id, { reactions });
  }

  onRead(read: MessageRead | ConversationRead): void {
    const messageId = "messageId" in read ? read.messageId : read.upToMessageId;
    const seq = messageId ? this.byId.get(messageId)?.seq : undefined;
    if (seq === undefined || seq <= (this.readSeq.get(read.userId) ?? 0)) return;
    this.readSeq.set(read.userId, seq);
    this.notify();
  }

  onIndicator(indicator: Indicator): void {
    if (indicator.type !== "typing" || indicator.userId === this.link.userId) return;
    clearTimeout(this.typers.get(indicator.userId));
    if (indicator.isActive) {
      // The service ends it by itself; this only guards against a stop lost with a connection.
      this.typers.set(indicator.userId, setTimeout(() => this.onIndicator({ ...indicator, isActive: false }), 10_000));
    } else {
      this.typers.delete(indicator.userId);
    }
    this.notify();
  }

  /** Indicators are not replayed on reconnect: whoever was typing is forgotten. */
  onDisconnect(): void {
    for (const timer of this.typers.values()) clearTimeout(timer);
    this.typers.clear();
    this.typingSince = 0;
    clearTimeout(this.typingIdle);
    this.notify();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.syncRetry);
    this.stopTyping();
    this.onDisconnect();
  }

  // ----- bookkeeping -----

  private put(m: Message): void {
    const held = this.byId.get(m.id);
    if (held && held.updatedAt > m.updatedAt) return;
    this.byId.set(m.id, m);
    this.bySeq.set(m.seq, m);
    this.sorted = null;
    // Our own send seen live (or through sync) before its ack: the pending copy gives way.
    if (m.clientMessageId && m.senderId === this.link.userId) this.settleOutgoing(m.clientMessageId, { message: m });
  }

  private settleOutgoing(clientMessageId: string, result: { message: Message }): void {
    const i = this.outbox.findIndex((o) => o.clientMessageId === clientMessageId);
    if (i < 0) return;
    const [item] = this.outbox.splice(i, 1);
    item!.settle(result);
    this.changedPending();
  }

  private patch(messageId: string, change: Partial<Message>): void {
    const m = this.byId.get(messageId);
    if (!m) return;
    const next = { ...m, ...change };
    this.byId.set(m.id, next);
    this.bySeq.set(m.seq, next);
    this.sorted = null;
    this.notify();
  }

  /** Moves the sync point over messages that arrived live in order. */
  private advance(): void {
    if (this.syncedSeq === undefined) return;
    while (this.bySeq.has(this.syncedSeq + 1)) this.syncedSeq++;
  }

  private changedPending(): void {
    this.pendingView = null;
    this.notify();
  }

  private notify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      this.changed.emit();
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
