/**
 * Drawing: the conversation list and the message log, from plain view models. No chat logic here;
 * app.ts decides what to show. Every string is set as text, never as HTML.
 */
export type ConversationRow = { id: string; title: string; unread: number; online: boolean };

export type MessageView = {
  /** The message id, or its clientMessageId while it is not acknowledged yet. */
  key: string;
  /** Where it goes: its seq; unacknowledged sends go last. */
  order: number;
  mine: boolean;
  from: string;
  content: string;
  time: string;
  isEdited: boolean;
  isDeleted: boolean;
  /** Of my own messages only; `failed`: refused for good, to retry or discard. */
  status: "sending" | "failed" | "sent" | "read" | null;
  reactions: { emoji: string; count: number; mine: boolean }[];
  /** Replies in its thread; null for what has no thread to open (a reply, a pending send). */
  replies: number | null;
  pinned: boolean;
  /** Whether the user may pin it (and unpin it). */
  canPin: boolean;
};

export type MessageActions = {
  react(key: string, emoji: string, add: boolean): void;
  edit(key: string): void;
  remove(key: string): void;
  retry(key: string): void;
  discard(key: string): void;
  openReplies(key: string): void;
  pin(key: string, pin: boolean): void;
};

export const REACTIONS = ["👍", "❤️", "😂"];
const TICKS = { sending: ["…", "sending"], failed: ["!", "not sent"], sent: ["✓", "sent"], read: ["✓✓", "read"] } as const;

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

export function renderConversations(list: HTMLUListElement, rows: ConversationRow[], currentId: string | null, open: (id: string) => void): void {
  list.replaceChildren(
    ...rows.map((row) => {
      const button = el("button", { type: "button", onclick: () => open(row.id) });
      button.dataset.conversationId = row.id;
      button.setAttribute("aria-current", String(row.id === currentId));
      const dot = el("span", { className: row.online ? "dot online" : "dot", title: row.online ? "online" : "offline" });
      const label = `${row.title}, ${row.online ? "online" : "offline"}${row.unread ? `, ${row.unread} unread` : ""}`;
      button.setAttribute("aria-label", label);
      button.append(dot, el("span", { className: "name" }, row.title));
      if (row.unread) button.append(el("span", { className: "unread" }, String(row.unread)));
      return el("li", {}, button);
    }),
  );
}

/**
 * Draws one message in place, or inserts it where its order puts it. An unchanged message is not
 * touched: the log (aria-live) would announce it again.
 */
export function upsertMessage(log: HTMLOListElement, view: MessageView, actions: MessageActions): void {
  const drawn = JSON.stringify(view);
  let item = log.querySelector<HTMLLIElement>(`li[data-key="${CSS.escape(view.key)}"]`);
  if (item?.dataset.drawn === drawn) return;
  if (!item || !fitsBetween(item, view.order)) {
    item?.remove();
    item = el("li");
    const after = [...log.children].find((other) => orderOf(other) > view.order);
    log.insertBefore(item, after ?? null);
  }
  item.dataset.key = view.key;
  item.dataset.order = String(view.order);
  item.dataset.drawn = drawn;
  item.className = ["message", view.mine && "mine", view.isDeleted && "deleted", (view.status === "sending" || view.status === "failed") && "pending"].filter(Boolean).join(" ");

  const meta = el("div", { className: "meta" }, el("time", {}, view.time));
  if (view.isEdited && !view.isDeleted) meta.append(el("span", { className: "edited" }, "edited"));
  if (view.pinned) meta.append(el("span", { className: "pinned" }, el("span", { ariaHidden: "true" }, "📌 "), el("span", {}, "pinned")));
  if (view.status && !view.isDeleted) {
    const [mark, word] = TICKS[view.status];
    meta.append(el("span", { className: `tick ${view.status}`, title: word }, el("span", { ariaHidden: "true" }, mark), el("span", { className: "sr-only" }, word)));
  }
  const parts: Node[] = [el("p", { className: "body" }, view.isDeleted ? "Message deleted" : view.content), meta];
  if (!view.mine) parts.unshift(el("p", { className: "from" }, view.from));

  if (view.status === "failed") {
    parts.push(
      el(
        "div",
        { className: "actions" },
        el("button", { type: "button", onclick: () => actions.retry(view.key) }, "Retry"),
        el("button", { type: "button", onclick: () => actions.discard(view.key) }, "Discard"),
      ),
    );
  } else if (!view.isDeleted && view.status !== "sending") {
    const reactions = el("div", { className: "reactions", role: "group", ariaLabel: "Reactions" });
    for (const emoji of REACTIONS) {
      const current = view.reactions.find((r) => r.emoji === emoji);
      const button = el("button", { type: "button", onclick: () => actions.react(view.key, emoji, !current?.mine) }, current ? `${emoji} ${current.count}` : emoji);
      button.setAttribute("aria-pressed", String(!!current?.mine));
      button.setAttribute("aria-label", `${emoji} ${current?.count ?? 0}`);
      reactions.append(button);
    }
    parts.push(reactions);
    const buttons: HTMLButtonElement[] = [];
    if (view.replies !== null) buttons.push(el("button", { type: "button", className: "replies", onclick: () => actions.openReplies(view.key) }, repliesLabel(view.replies)));
    if (view.canPin) buttons.push(el("button", { type: "button", onclick: () => actions.pin(view.key, !view.pinned) }, view.pinned ? "Unpin" : "Pin"));
    if (view.mine) {
      buttons.push(
        el("button", { type: "button", onclick: () => actions.edit(view.key) }, "Edit"),
        el("button", { type: "button", onclick: () => actions.remove(view.key) }, "Delete"),
      );
    }
    if (buttons.length) parts.push(el("div", { className: "actions" }, ...buttons));
  } else if (view.isDeleted && view.replies) {
    // Its replies stay readable.
    parts.push(el("div", { className: "actions" }, el("button", { type: "button", className: "replies", onclick: () => actions.openReplies(view.key) }, repliesLabel(view.replies))));
  }
  item.replaceChildren(...parts);
}

const repliesLabel = (count: number) => (count === 0 ? "Reply" : count === 1 ? "1 reply" : `${count} replies`);

/** The pinned messages of the open conversation, most recently pinned first. */
export function renderPins(list: HTMLUListElement, pins: { from: string; content: string }[]): void {
  list.replaceChildren(...pins.map((pin) => el("li", {}, el("strong", {}, `${pin.from}: `), pin.content)));
}

const orderOf = (item: Element | null) => Number((item as HTMLElement | null)?.dataset.order);

/** A pending send that got its seq usually stays where it is: moving it would announce it again. */
const fitsBetween = (item: Element, order: number) =>
  !(orderOf(item.previousElementSibling) > order) && !(orderOf(item.nextElementSibling) < order);
