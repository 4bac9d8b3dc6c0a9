import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { ListOf } from "../core/schemas";
import { authenticated } from "../core/http";
import { ConversationRead, ConversationUnread, MarkConversationRead, MarkUnread, MessageRead, ReadConversationParams, Reader, ReadMessageParams, UnreadCount, UnreadTotals } from "./model";
import { listReaders, markConversationRead, markMessageRead, markUnread, unreadCount, unreadTotals } from "./service";

export const receiptRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["read receipts"] })
    .use(authenticated(ctx))
    .put("/messages/:id/read", ({ actor, params }) => markMessageRead(ctx, actor, params.id), {
      params: ReadMessageParams,
      response: MessageRead,
      detail: { summary: "Mark a message (and every earlier one) read" },
    })
    .get("/messages/:id/read", ({ actor, params }) => listReaders(ctx, actor, params.id), {
      params: ReadMessageParams,
      response: ListOf(Reader),
      detail: { summary: "Who else has read a message" },
    })
    .put("/conversations/:id/read", ({ actor, params, body }) => markConversationRead(ctx, actor, params.id, body?.upToMessageId), {
      params: ReadConversationParams,
      body: t.Optional(MarkConversationRead),
      response: ConversationRead,
      detail: { summary: "Mark a conversation read, up to a message or entirely" },
    })
    .get("/conversations/:id/unread-count", ({ actor, params }) => unreadCount(ctx, actor, params.id), {
      params: ReadConversationParams,
      response: UnreadCount,
      detail: { summary: "The caller's unread and unread-mention counts and own read marker" },
    })
    .put("/conversations/:id/unread", ({ actor, params, body }) => markUnread(ctx, actor, params.id, body.messageId), {
      params: ReadConversationParams,
      body: MarkUnread,
      response: ConversationUnread,
      detail: { summary: "Mark unread from a message on: the caller's own counts only; receipts stay" },
    })
    .get("/me/unread", ({ actor }) => unreadTotals(ctx, actor), {
      response: UnreadTotals,
      detail: { summary: "The caller's unread totals over all their conversations" },
    });
