import { type SQL, sql } from "drizzle-orm";
import { type AnyPgColumn, index, integer, jsonb, pgTable, text, unique, uuid } from "drizzle-orm/pg-core";
import { createdAt, timestampMs, updatedAt } from "./columns";
import { conversationRef } from "./conversations";

import type { Attachment } from "../../../client/wire";

export type { Attachment };

/**
 * The words of a message's content as message search sees them: accents folded, ASCII punctuation
 * a separator, each word lowercased, no stemming or stop words (`simple`). chat_search_text is
 * the IMMUTABLE wrapper over unaccent of the search_text_function migration. The index and the
 * search query both use this expression, which is what lets the planner match them.
 */
export const searchDocument = (content: AnyPgColumn): SQL => sql`to_tsvector('simple', chat_search_text(${content}))`;

export const messages = pgTable(
  "messages",
  {
    /** UUIDv7: time-ordered, so the primary key index stays append-mostly. */
    id: uuid("id").primaryKey(),
    conversationId: conversationRef(),
    seq: integer("seq").notNull(),
    senderId: text("sender_id").notNull(),
    content: text("content").notNull(),
    attachments: jsonb("attachments").$type<Attachment[]>().notNull().default([]),
    replyTo: uuid("reply_to"),
    /** The thread's top-level message, for a reply (null: top-level). Never changes. */
    parentId: uuid("parent_id"),
    /**
     * A top-level message's replies not deleted, and when the newest of them was sent: kept by the
     * send statement and the delete transaction, both holding the parent's row lock, so a read
     * never counts.
     */
    replyCount: integer("reply_count").notNull().default(0),
    lastReplyAt: timestampMs("last_reply_at"),
    clientMessageId: text("client_message_id"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    /** External ids of the users the message mentions (deduplicated, in the order given); empty once deleted. */
    mentions: text("mentions").array().notNull().default(sql`'{}'::text[]`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    editedAt: timestampMs("edited_at"),
    deletedAt: timestampMs("deleted_at"),
    /**
     * When and by whom the message was pinned to its conversation (both null: not pinned). Set and
     * cleared under the conversation's row lock (src/messages/pins.ts), which is what keeps a
     * conversation at its cap of pins under concurrent pins; deleting the message clears them.
     */
    pinnedAt: timestampMs("pinned_at"),
    pinnedBy: text("pinned_by"),
  },
  (t) => [
    // Serves paging, sync and unread counts, and guarantees one message per seq.
    unique("messages_conversation_seq_key").on(t.conversationId, t.seq),
    // Idempotent retries: one message per client id per sender per conversation.
    unique("messages_client_id_key").on(t.conversationId, t.senderId, t.clientMessageId),
    // Message search. Not partial (say, on deleted_at is null): the planner keeps statistics on
    // the words of a whole-table expression index only, and needs them to choose between this
    // index (rare words) and walking ids backwards (common words). Tombstones have no words.
    // The top-level page (the default message list): replies are left out of it, however many
    // a thread holds, without scanning past them.
    index("messages_top_level_idx").on(t.conversationId, t.seq).where(sql`${t.parentId} is null`),
    // A thread's replies in seq order; only replies pay for it.
    index("messages_thread_idx").on(t.parentId, t.seq).where(sql`${t.parentId} is not null`),
    index("messages_search_idx").using("gin", searchDocument(t.content)),
    // Unread counts subtract other people's deleted messages above a reader's marker: tombstones
    // only, so sends never write to it and it stays as small as the deletions.
    // A user's own messages in id order: their export and their erase walk it in pages.
    index("messages_sender_idx").on(t.senderId, t.id),
    index("messages_deleted_idx").on(t.conversationId, t.seq, t.senderId).where(sql`${t.deletedAt} is not null`),
    // A conversation's pins, most recently pinned first, and their count under the cap: pinned
    // messages only, so sends never write to it.
    index("messages_pinned_idx").on(t.conversationId, t.pinnedAt, t.id).where(sql`${t.pinnedAt} is not null`),
  ],
);

export type MessageRow = typeof messages.$inferSelect;
