import { asc, sql } from "drizzle-orm";
import { users } from "./schema";

/**
 * The one order in which a transaction locks several users (sync, adding participants, presence):
 * two transactions taking the same rows in different orders can deadlock. Byte order, whatever the
 * database's collation, so that it is also how JavaScript sorts ids it inserts together.
 */
export const usersInLockOrder = asc(sql`${users.externalId} collate "C"`);

/** JavaScript's side of the same order, for rows inserted together. */
export const byExternalId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/*
 * Rows a transaction changes are locked FOR NO KEY UPDATE, never FOR UPDATE: a conversation by
 * every writer that changes it or its membership (in id order when several, before any of its
 * messages), a message by an edit, a deletion or a pin. That is the lock PostgreSQL takes for an
 * UPDATE that changes no key, and it lets through the KEY SHARE locks that foreign keys take for
 * rows inserted meanwhile (an edit's mention rows name the conversation, a reaction its message, a
 * read mark its conversation). FOR UPDATE made those wait: an edit holding its message waited for
 * its mention rows' check of the conversation while a pin or a reply held the conversation and
 * waited for that message, and PostgreSQL ended one of the two as a deadlock's victim.
 */
