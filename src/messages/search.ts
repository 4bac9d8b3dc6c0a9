import { and, desc, eq, isNull, lt, type SQL, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Executor } from "../core/db/client";
import { messages, searchDocument } from "../core/db/schema";
import { invalid } from "../core/errors";
import { type List, listOf, pageOf } from "../core/schemas";
import { conversationIdsOfUser, requireMembership } from "../conversations/membership";
import type { Message, SearchMessages } from "./model";
import { withReactions } from "./service";

export const SEARCH_QUERY_MAX = 200;

/**
 * The words of a search: runs of letters and digits (any script), combining marks kept with their
 * letter. Everything else separates words, so operators and quotes of the tsquery syntax never
 * reach it.
 */
export const searchWords = (q: string): string[] => q.match(/[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu) ?? [];

/**
 * Every word must be a whole word of the content, the last one a prefix when it has at least two
 * characters. Each word goes through chat_search_text, as the content does in the index; what
 * comes out has no quote or backslash (it turns ASCII punctuation into spaces), so quoting it
 * makes it one tsquery operand whatever it holds.
 */
function tsQuery(words: string[]): SQL {
  const operands = words.map((word, i) => {
    const prefix = i === words.length - 1 && [...word].length >= 2 ? ":*" : "";
    return sql`'''' || chat_search_text(${word}) || ${`'${prefix}`}`;
  });
  return sql`to_tsquery('simple', ${sql.join(operands, sql` || ' & ' || `)})`;
}

/** The condition on the words, in the form messages_search_idx answers. */
export const matchesWords = (words: string[]) => sql`${searchDocument(messages.content)} @@ ${tsQuery(words)}`;

/**
 * Messages of `userId`'s conversations matching `words`, newest first. The conversation filter
 * is `= any(array(subquery))`, not `in (subquery)`: as an array it joins the word index in one
 * bitmap (a BitmapAnd with an index on conversation_id), whereas a semi-join is planned as one
 * bitmap per conversation, each reading the word's whole posting list. For words common enough,
 * the planner walks ids backwards instead and stops after a page. The statement is not prepared,
 * so that each search is planned with its own words.
 */
export const searchQuery = (db: Executor, userId: string, words: string[], filters: Omit<SearchMessages, "q">) =>
  db
    .select()
    .from(messages)
    .where(
      and(
        matchesWords(words),
        isNull(messages.deletedAt),
        sql`${messages.conversationId} = any(array(${conversationIdsOfUser(db, userId)}))`,
        filters.conversationId ? eq(messages.conversationId, filters.conversationId) : undefined,
        filters.senderId ? eq(messages.senderId, filters.senderId) : undefined,
        filters.cursor ? lt(messages.id, filters.cursor) : undefined,
      ),
    )
    .orderBy(desc(messages.id))
    .limit((filters.limit ?? 20) + 1);

/** GET /api/search/messages: a page of the caller's messages matching `q`, newest first. */
export async function searchMessages(ctx: Context, actor: Actor, search: SearchMessages): Promise<List<Message>> {
  const length = [...search.q].length;
  if (length > SEARCH_QUERY_MAX) {
    throw invalid(`q is ${length} characters; at most ${SEARCH_QUERY_MAX} are allowed`, [{ path: "/q", message: "too long" }]);
  }
  if (search.conversationId) await requireMembership(ctx.db, search.conversationId, actor.userId);
  const words = searchWords(search.q);
  if (words.length === 0) return listOf([]);
  const limit = search.limit ?? 20;
  const rows = await searchQuery(ctx.db, actor.userId, words, search);
  return pageOf(rows, limit, (page) => withReactions(ctx.db, page), (last) => last.id);
}
