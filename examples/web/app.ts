/**
 * The web chat: the host application signs the user in and hands out chat tokens; the client SDK
 * keeps the live state (messages by seq, pending sends, typing, presence, reads); this file turns
 * that state into the page and the page's actions into SDK calls.
 */
import { ChatError, type ChatClient, type Conversation, type ConversationState, createChatClient, type Message, type PendingMessage } from "chat-service/client";
import { host, HostError, type User } from "./host-api";
import { type ConversationRow, type MessageView, renderConversations, renderPins, upsertMessage } from "./view";

const PAGE_SIZE = 30;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  signInView: $("sign-in-view"),
  signIn: $<HTMLFormElement>("sign-in"),
  signInName: $<HTMLInputElement>("sign-in-name"),
  signInError: $("sign-in-error"),
  me: $("me"),
  meName: $("me-name"),
  signOut: $("sign-out"),
  banner: $("banner"),
  chatView: $("chat-view"),
  openDirect: $<HTMLFormElement>("open-direct"),
  peer: $<HTMLInputElement>("peer"),
  people: $<HTMLDataListElement>("people"),
  openDirectError: $("open-direct-error"),
  conversations: $<HTMLUListElement>("conversations"),
  noThread: $("no-thread"),
  thread: $("thread"),
  threadName: $("thread-name"),
  threadPresence: $("thread-presence"),
  pins: $("pins"),
  pinList: $<HTMLUListElement>("pin-list"),
  older: $<HTMLButtonElement>("older"),
  messages: $<HTMLOListElement>("messages"),
  typing: $("typing"),
  threadError: $("thread-error"),
  composer: $<HTMLFormElement>("composer"),
  draft: $<HTMLInputElement>("draft"),
  draftLabel: $("draft-label"),
  send: $<HTMLButtonElement>("send"),
  cancelEdit: $<HTMLButtonElement>("cancel-edit"),
  replies: $("replies"),
  closeReplies: $<HTMLButtonElement>("close-replies"),
  repliesParent: $("replies-parent"),
  replyLog: $<HTMLOListElement>("reply-log"),
  replyComposer: $<HTMLFormElement>("reply-composer"),
  replyDraft: $<HTMLInputElement>("reply-draft"),
};

const me = await host.me().catch(() => null);
if (me) startChat(me);
else showSignIn();

function showSignIn(): void {
  ui.signInView.hidden = false;
  ui.signInName.focus();
  ui.signIn.onsubmit = async (event) => {
    event.preventDefault();
    try {
      await host.signIn(ui.signInName.value);
      location.reload();
    } catch (error) {
      ui.signInError.textContent = error instanceof HostError ? error.message : "Could not sign in";
    }
  };
}

async function startChat(user: User): Promise<void> {
  ui.me.hidden = false;
  ui.meName.textContent = user.name;
  ui.chatView.hidden = false;

  const { url } = await host.chatToken();
  // The SDK asks for a fresh token on every (re)connect: tokens are short-lived.
  const client: ChatClient = createChatClient({ url, token: async () => (await host.chatToken()).token });
  ui.signOut.onclick = async () => {
    client.close();
    await host.signOut();
    location.reload();
  };

  const names = new Map<string, string>();
  const nameOf = (userId: string) => names.get(userId) ?? userId;
  const loadPeople = async () => {
    for (const person of await host.people()) names.set(person.id, person.name);
    ui.people.replaceChildren(...[...names.values()].filter((n) => n !== user.name).map((name) => Object.assign(document.createElement("option"), { value: name })));
  };
  await loadPeople();

  /** Every conversation of the list, kept live by the SDK (which also loads its participants' presence). */
  const conversations = new Map<string, { conversation: Conversation; state: ConversationState; unread: number; countedSeq: number }>();
  /**
   * `fromSeq`: the log shows top-level messages from this seq on, those of the history pages
   * loaded and after (pins and threads fetched bring older ones along). `repliesOf`: the parent
   * of the thread open beside it.
   */
  let current: { id: string; hasOlder: boolean; fromSeq: number; repliesOf: string | null } | null = null;
  let editing: Message | null = null;

  const peerOf = (c: Conversation) => c.participants.find((p) => p.userId !== user.id)?.userId ?? user.id;
  const titleOf = (c: Conversation) => c.name ?? nameOf(peerOf(c));
  const isOnline = (userId: string) => client.presence(userId)?.status === "online";
  /** Either side of a direct conversation may pin; in a group, its owners and admins. */
  const mayPin = (c: Conversation) => c.type === "direct" || ["owner", "admin"].includes(c.participants.find((p) => p.userId === user.id)?.role ?? "");

  const drawList = () => {
    const rows: ConversationRow[] = [...conversations.values()]
      .sort((a, b) => lastActivity(b) - lastActivity(a))
      .map(({ conversation, unread }) => ({ id: conversation.id, title: titleOf(conversation), unread, online: isOnline(peerOf(conversation)) }));
    renderConversations(ui.conversations, rows, current?.id ?? null, (id) => void open(id));
  };
  const lastActivity = ({ conversation, state }: { conversation: Conversation; state: ConversationState }) =>
    Date.parse(state.messages.at(-1)?.createdAt ?? conversation.lastMessageAt ?? conversation.createdAt);

  const track = (conversation: Conversation) => {
    if (conversations.has(conversation.id)) return;
    const state = client.conversation(conversation);
    const entry = { conversation, state, unread: conversation.unreadCount, countedSeq: conversation.lastMessage?.seq ?? 0 };
    conversations.set(conversation.id, entry);
    state.onChange(() => {
      // Messages from others that arrived since the last look count as unread unless on screen.
      const fresh = state.messages.filter((m) => m.seq > entry.countedSeq);
      entry.countedSeq = Math.max(entry.countedSeq, ...state.messages.map((m) => m.seq));
      if ((state.reads.get(user.id) ?? 0) >= entry.countedSeq || onScreen(conversation.id)) entry.unread = 0;
      else entry.unread += fresh.filter((m) => m.senderId !== user.id && !m.isDeleted).length;
      if (current?.id === conversation.id) {
        drawThread();
        markRead();
      }
      drawList();
    });
  };

  // ----- the open conversation -----

  const currentState = () => (current ? conversations.get(current.id)?.state : undefined);
  const onScreen = (id: string) => current?.id === id && document.visibilityState === "visible";

  async function open(id: string): Promise<void> {
    const entry = conversations.get(id);
    if (!entry) return;
    cancelEdit();
    current = { id, hasOlder: false, fromSeq: Number.POSITIVE_INFINITY, repliesOf: null };
    entry.unread = 0;
    ui.threadError.textContent = "";
    ui.noThread.hidden = true;
    ui.thread.hidden = false;
    ui.messages.replaceChildren();
    ui.replies.hidden = true;
    drawList();
    drawThread();
    // The pins come with their messages, kept live by the SDK from then on.
    entry.state.pins({ limit: 50 }).catch(report);
    await loadPage(entry.state, "");
    ui.draft.focus();
  }

  ui.older.onclick = () => {
    const state = currentState();
    const oldest = state?.topLevel.find((m) => m.seq >= current!.fromSeq);
    if (state && oldest) void loadPage(state, `&before=${oldest.id}`);
  };

  /** History is read over REST (through the host); the SDK keeps everything after it live. */
  async function loadPage(state: ConversationState, cursor: string): Promise<void> {
    try {
      const page = await host.get<{ data: Message[]; hasMore: boolean }>(`/api/conversations/${state.id}/messages?limit=${PAGE_SIZE}${cursor}`);
      if (current?.id !== state.id) return;
      current.hasOlder = page.hasMore;
      current.fromSeq = page.hasMore ? Math.min(current.fromSeq, ...page.data.map((m) => m.seq)) : 0;
      state.merge(page.data);
    } catch (error) {
      report(error as Error);
    }
  }

  function drawThread(): void {
    const entry = current && conversations.get(current.id);
    if (!entry) return;
    const { conversation, state } = entry;
    const peer = peerOf(conversation);
    ui.threadName.textContent = titleOf(conversation);
    ui.threadPresence.className = isOnline(peer) ? "dot online" : "dot";
    ui.threadPresence.title = isOnline(peer) ? "online" : "offline";
    ui.threadPresence.ariaLabel = ui.threadPresence.title;
    ui.older.hidden = !current!.hasOlder;

    const canPin = mayPin(conversation);
    const shown = state.topLevel.filter((m) => m.seq >= current!.fromSeq);
    drawLog(ui.messages, [...shown.map((m) => messageView(m, state, canPin)), ...state.pending.filter((p) => !p.parentId).map(pendingView)]);

    const pinned = state.messages.filter((m) => m.pinnedAt !== null).sort((a, b) => b.pinnedAt!.localeCompare(a.pinnedAt!));
    renderPins(ui.pinList, pinned.map((m) => ({ from: nameOf(m.senderId), content: m.content })));
    ui.pins.hidden = pinned.length === 0;

    const parentId = current!.repliesOf;
    if (parentId) {
      const parent = state.messages.find((m) => m.id === parentId);
      ui.repliesParent.textContent = parent ? `${nameOf(parent.senderId)}: ${parent.isDeleted ? "Message deleted" : parent.content}` : "";
      const replies = state.thread(parentId).map((m) => messageView(m, state, canPin));
      drawLog(ui.replyLog, [...replies, ...state.pending.filter((p) => p.parentId === parentId).map(pendingView)]);
    }

    const typing = state.typingUsers.map(nameOf);
    ui.typing.textContent = typing.length ? `${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…` : "";
  }

  function drawLog(log: HTMLOListElement, views: MessageView[]): void {
    const keys = new Set(views.map((v) => v.key));
    for (const item of [...log.children] as HTMLElement[]) if (!keys.has(item.dataset.key!)) item.remove();
    const newest = log.lastElementChild;
    for (const view of views) upsertMessage(log, view, actions);
    // Follow new messages at the bottom; stay put when older ones are added at the top.
    if (log.lastElementChild !== newest) log.scrollTop = log.scrollHeight;
  }

  /** A sent message keeps its clientMessageId as key, so its pending copy is updated in place. */
  const messageView = (m: Message, state: ConversationState, canPin: boolean): MessageView => ({
    key: m.clientMessageId ?? m.id,
    order: m.seq,
    mine: m.senderId === user.id,
    from: nameOf(m.senderId),
    content: m.content,
    time: new Date(m.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    isEdited: m.isEdited,
    isDeleted: m.isDeleted,
    status: m.senderId !== user.id ? null : state.readBy(m.seq).length ? "read" : "sent",
    reactions: m.reactions.map((r) => ({ emoji: r.emoji, count: r.count, mine: r.userIds.includes(user.id) })),
    replies: m.parentId ? null : m.replyCount,
    pinned: m.pinnedAt !== null,
    canPin,
  });

  const pendingView = (p: PendingMessage, i: number): MessageView => ({
    key: p.clientMessageId,
    order: Number.MAX_SAFE_INTEGER - 1000 + i,
    mine: true,
    from: user.name,
    content: p.content ?? "",
    time: new Date(p.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    isEdited: false,
    isDeleted: false,
    status: p.status,
    reactions: [],
    replies: null,
    pinned: false,
    canPin: false,
  });

  /** Reads up to the newest message while the conversation is on screen (one's own never count). */
  function markRead(): void {
    const state = currentState();
    const newest = state?.messages.at(-1);
    const theirs = state?.messages.findLast((m) => m.senderId !== user.id);
    if (!state || !newest || !theirs || document.visibilityState !== "visible") return;
    if ((state.reads.get(user.id) ?? 0) >= theirs.seq) return;
    client.emit("conversation:read", { conversationId: state.id, upToMessageId: newest.id }).catch(() => {});
  }
  document.addEventListener("visibilitychange", markRead);

  /** The message a key of the log stands for (a key is a clientMessageId or an id). */
  const messageFor = (key: string) => currentState()?.messages.find((m) => m.clientMessageId === key || m.id === key);

  const actions = {
    react(key: string, emoji: string, add: boolean) {
      const m = messageFor(key);
      if (m) client.emit(add ? "reaction:add" : "reaction:remove", { messageId: m.id, emoji }).catch(report);
    },
    edit(key: string) {
      editing = messageFor(key) ?? null;
      if (!editing) return;
      ui.draft.value = editing.content;
      ui.draftLabel.textContent = "Edit message";
      ui.send.textContent = "Save";
      ui.cancelEdit.hidden = false;
      ui.composer.classList.add("editing");
      ui.draft.focus();
    },
    remove(key: string) {
      const m = messageFor(key);
      if (m) client.emit("message:delete", { messageId: m.id }).catch(report);
    },
    retry(key: string) {
      ui.threadError.textContent = "";
      currentState()?.retry(key);
    },
    discard(key: string) {
      ui.threadError.textContent = "";
      currentState()?.discard(key);
    },
    openReplies(key: string) {
      const m = messageFor(key);
      if (m) void openReplies(m.id);
    },
    pin(key: string, pin: boolean) {
      const m = messageFor(key);
      const state = currentState();
      if (!m || !state) return;
      ui.threadError.textContent = "";
      (pin ? state.pin(m.id) : state.unpin(m.id)).catch((error: Error) =>
        report(error instanceof ChatError && error.code === "FORBIDDEN" ? new Error("Only the group's owners and admins can pin messages.") : error),
      );
    },
  };

  // ----- the thread open beside the conversation -----

  async function openReplies(parentId: string): Promise<void> {
    const state = currentState();
    if (!state) return;
    current!.repliesOf = parentId;
    ui.replyLog.replaceChildren();
    ui.replies.hidden = false;
    drawThread();
    ui.replyDraft.focus();
    // The newest replies; those sent from now on arrive live.
    await state.replies(parentId, { limit: 50 }).catch(report);
  }

  ui.closeReplies.onclick = () => {
    if (current) current.repliesOf = null;
    ui.replies.hidden = true;
  };

  ui.replyDraft.oninput = () => currentState()?.typing();

  ui.replyComposer.onsubmit = (event) => {
    event.preventDefault();
    const state = currentState();
    const content = ui.replyDraft.value.trim();
    if (!state || !current?.repliesOf || !content) return;
    ui.threadError.textContent = "";
    state.send({ content, parentId: current.repliesOf }).catch(report);
    ui.replyDraft.value = "";
  };

  function cancelEdit(): void {
    editing = null;
    ui.draft.value = "";
    ui.draftLabel.textContent = "Message";
    ui.send.textContent = "Send";
    ui.cancelEdit.hidden = true;
    ui.composer.classList.remove("editing");
  }
  ui.cancelEdit.onclick = cancelEdit;

  const report = (error: Error) => {
    ui.threadError.textContent = error.message;
  };

  ui.draft.oninput = () => {
    if (!editing) currentState()?.typing();
  };

  ui.composer.onsubmit = (event) => {
    event.preventDefault();
    const state = currentState();
    const content = ui.draft.value.trim();
    if (!state || !content) return;
    ui.threadError.textContent = "";
    if (editing) client.emit("message:edit", { messageId: editing.id, content }).catch(report);
    // Shown at once as pending; the SDK retries it until stored, or marks it failed if refused.
    else state.send({ content }).catch(report);
    cancelEdit();
  };

  // ----- starting a conversation -----

  ui.openDirect.onsubmit = async (event) => {
    event.preventDefault();
    ui.openDirectError.textContent = "";
    const wanted = ui.peer.value.trim().toLowerCase();
    await loadPeople();
    const peer = [...names].find(([id, name]) => name.toLowerCase() === wanted || id === wanted)?.[0];
    if (!peer || peer === user.id) {
      ui.openDirectError.textContent = peer ? "That is you." : `No one called “${ui.peer.value}” has signed in yet.`;
      return;
    }
    try {
      const conversation = await host.post<Conversation>("/api/conversations", { type: "direct", participantIds: [peer] });
      track(conversation);
      ui.peer.value = "";
      await open(conversation.id);
    } catch (error) {
      ui.openDirectError.textContent = error instanceof Error ? error.message : String(error);
    }
  };

  // ----- live events beyond the open conversations -----

  client.on("conversation:new", (conversation) => {
    void loadPeople().then(() => {
      track(conversation);
      drawList();
    });
  });
  client.onPresence(() => {
    drawList();
    drawThread();
  });
  // A conversation made while the socket was not yet (or no longer) connected sent its
  // conversation:new to nobody here: each (re)connect reads the list again.
  const loadList = async () => {
    const list = await host.get<{ data: Conversation[] }>("/api/conversations?limit=50");
    for (const conversation of list.data) track(conversation);
    drawList();
  };
  client.onStatus((status) => {
    ui.banner.hidden = status !== "reconnecting";
    if (status === "connected") void loadList();
  });
  client.onRefused((error) => {
    ui.banner.textContent = `The chat service refused this account: ${error.message}`;
    ui.banner.hidden = false;
  });

  await loadList();
}
