import { integer, jsonb, pgTable, text, unique, uuid } from "drizzle-orm/pg-core";
import { createdAt, timestampMs, updatedAt } from "./columns";
import { conversations } from "./conversations";

import type { Attachment } from "../../../client/wire";

export type { Attachment };

export const messages = pgTable(
  "messages",
  {
    /** UUIDv7: time-ordered, so the primary key index stays append-mostly. */
    id: uuid("id").primaryKey(),
    conversationId: uuid("conversation_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    senderId: text("sender_id").notNull(),
    content: text("content").notNull(),
    attachments: jsonb("attachments").$type<Attachment[]>().notNull().default([]),
    replyTo: uuid("reply_to"),
    clientMessageId: text("client_message_id"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    editedAt: timestampMs("edited_at"),
    deletedAt: timestampMs("deleted_at"),
  },
  (t) => [
    // Serves paging, sync and unread counts, and guarantees one message per seq.
    unique("messages_conversation_seq_key").on(t.conversationId, t.seq),
    // Idempotent retries: one message per client id per sender per conversation.
    unique("messages_client_id_key").on(t.conversationId, t.senderId, t.clientMessageId),
  ],
);

export type MessageRow = typeof messages.$inferSelect;
