import type { Context } from "../core/context";
import { withTransaction } from "../core/db/transaction";
import { messagesByIds } from "../messages/service";
import { unreadBadges } from "../receipts/service";
import { recordEvents } from "../webhooks/outbox";
import { takeDueJobs } from "./jobs";
import type { NotificationMessage, NotificationRecipient } from "./model";
import { candidatesOf } from "./recipients";

/** Recipients per `notification.message` event: a host fans each event out to push providers in one go. */
export const RECIPIENTS_PER_EVENT = 1000;

export type NotifyPass = { jobs: number; recipients: number; events: number };

/**
 * Works out, once, who each due message notifies and freezes them into `notification.message`
 * outbox events, in one transaction with taking the jobs: the events and the jobs' removal commit
 * together or not at all. Per pass: one statement for the candidates of every message taken, one
 * presence lookup for all of them, one for their badges. Who is connected on any instance is left
 * out; if the presence store cannot answer, the pass fails and the jobs wait for the next one.
 */
export async function notifyDue(ctx: Context, limit: number, afterCommit?: () => void): Promise<NotifyPass> {
  return withTransaction(ctx, async (tx, after) => {
    const jobs = await takeDueJobs(tx, limit);
    if (jobs.length === 0) return { jobs: 0, recipients: 0, events: 0 };
    const candidates = await candidatesOf(tx, jobs.map((j) => j.messageId), ctx.config.PRESENCE_MAX_ROOM_SIZE);
    const online = await ctx.store.presenceOnline([...new Set(candidates.map((c) => c.userId))]);
    const away = candidates.filter((c) => !online.has(c.userId));
    const badges = await unreadBadges(tx, [...new Set(away.map((c) => c.userId))]);
    const byMessage = Map.groupBy(away, (c) => c.messageId);
    const shown = new Map((await messagesByIds(tx, [...byMessage.keys()])).map((m) => [m.id, m]));

    const events: { type: "notification.message"; data: NotificationMessage }[] = [];
    for (const [messageId, people] of byMessage) {
      const message = shown.get(messageId);
      if (!message) continue;
      const recipients: NotificationRecipient[] = people.map(({ userId, mentioned }) => ({ userId, mentioned, ...badges.get(userId)! }));
      for (let i = 0; i < recipients.length; i += RECIPIENTS_PER_EVENT) {
        events.push({ type: "notification.message", data: { message, recipients: recipients.slice(i, i + RECIPIENTS_PER_EVENT) } });
      }
    }
    await recordEvents(ctx, tx, events);

    const pass = { jobs: jobs.length, recipients: away.length, events: events.length };
    after(() => {
      ctx.metrics.count("notification_jobs_total", undefined, pass.jobs);
      ctx.metrics.count("notification_recipients_total", undefined, pass.recipients);
      for (const job of jobs) ctx.metrics.observe("notification_lag_ms", job.lagMs);
      if (pass.events) afterCommit?.();
    });
    return pass;
  });
}
