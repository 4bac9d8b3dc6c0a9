import type { Actor } from "../core/auth";
import type { Drain } from "../core/context";
import { SQLSTATE, SQLSTATE_CLASS, sqlStateOf } from "../core/db/errors";
import { AppError } from "../core/errors";
import type { Message, SendMessage, ThreadUpdated } from "./model";

export type QueuedSend = { actor: Actor; conversationId: string; input: SendMessage };
/**
 * `created: false`: a retry (same clientMessageId) of a message stored before. `thread`: for the
 * last reply to a parent in its batch, the parent's counters once the batch is in.
 */
export type SendResult = { message: Message; created: boolean; thread?: ThreadUpdated };
/**
 * Writes a batch of sends in one transaction. Resolves with each send's result, or the error that
 * refuses it, in batch order; rejects when the transaction failed, having written nothing.
 */
export type WriteSends = (batch: QueuedSend[]) => Promise<(SendResult | AppError)[]>;

type Pending = QueuedSend & { queuedAt: number; resolve(result: SendResult): void; reject(error: unknown): void };

/** Sends written by one statement at most: bounds its size and the wait of the last one. */
const MAX_BATCH = 256;
/** Statements in flight per instance; each takes conversations no other one in flight has. */
const MAX_IN_FLIGHT = 4;
/**
 * Another statement starts only when the newest one has run longer than a statement takes: one
 * at a time gives the biggest batches and the lowest latency while the database keeps up (fewer,
 * larger statements cost it less CPU); a statement stuck on a lock (a big conversation being
 * deleted, say) must not hold up the sends of every other conversation. "Longer than a statement
 * takes" is STALL_FACTOR times the recent statements' time, at least STALL_MS and at most
 * STALL_MAX_MS: a fixed threshold below what a busy database needs for a big batch would start
 * statements that are only busy, not stalled, and split the batches just when the database needs
 * them biggest (the smaller, concurrent statements each cost it more per send, and the backlog grows).
 */
const STALL_MS = 20;
const STALL_FACTOR = 3;
const STALL_MAX_MS = 500;
/** Weight of the newest statement in the recent statements' time (an exponential average). */
const RECENT_WEIGHT = 0.2;
/**
 * A send is refused (UNAVAILABLE, retry in a second) while the newest statement was a full batch
 * of sends that had waited this long: the backlog is more than the database finishes in time, and
 * letting it grow would only make every send later. Sends once accepted are all written.
 */
const MAX_QUEUE_WAIT_MS = 1000;
/** Sends waiting beyond this are refused at once rather than queued behind a stalled database. */
const MAX_WAITING = 20_000;

/**
 * Group commit for message sends. Sends that arrive while statements are in flight wait and are
 * written together by the next one, so a busy instance pays one commit for many messages while an
 * idle one writes each send at once. Normally one statement runs at a time; more start only when
 * the newest has stalled (runs well past the recent statements' time). A conversation is in at
 * most one statement at a time, which keeps each socket's sends in the order it emitted them and
 * spares statements of one instance from waiting on each other's locks. A backlog the database
 * cannot finish in time is answered with a retryable refusal rather than queued (MAX_QUEUE_WAIT_MS).
 */
export class SendQueue {
  private waiting: Pending[] = [];
  private inFlight = new Set<string>();
  private statements = 0;
  private lastStartedAt = 0;
  private stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** Recent statements' time (ms); undefined until one finished. */
  private recentMs: number | undefined;
  /** The newest statement was a full batch of sends that had waited more than MAX_QUEUE_WAIT_MS. */
  private behind = false;

  constructor(
    private readonly write: WriteSends,
    /** Shutdown waits for the statements it tracks. */
    private readonly drain: Drain,
  ) {}

  /** Sends accepted and not yet handed to a statement. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  send(item: QueuedSend): Promise<SendResult> {
    if (this.behind || this.waiting.length >= MAX_WAITING) {
      return Promise.reject(new AppError("UNAVAILABLE", "Too many messages waiting to be stored; retry shortly", { retryAfter: 1 }, 1));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...item, queuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  /** How long the newest statement may run before another one starts beside it. */
  private get stallMs(): number {
    return this.recentMs === undefined ? STALL_MS : Math.min(STALL_MAX_MS, Math.max(STALL_MS, STALL_FACTOR * this.recentMs));
  }

  private pump(): void {
    // Nothing left waiting: whatever backlog there was is gone.
    if (!this.waiting.length) this.behind = false;
    while (this.statements < MAX_IN_FLIGHT && this.waiting.length) {
      const now = performance.now();
      const stallMs = this.stallMs;
      const sinceLast = now - this.lastStartedAt;
      if (this.statements > 0 && sinceLast < stallMs) {
        this.stallTimer ??= setTimeout(() => {
          this.stallTimer = undefined;
          this.pump();
        }, stallMs - sinceLast);
        return;
      }
      const batch = this.take();
      if (batch.length === 0) return;
      // A full batch: more waits than one statement takes. Sends that waited only for their own
      // conversation's statement (held up by a lock, say) make no full batch on their own.
      this.behind = batch.length === MAX_BATCH && now - batch[0]!.queuedAt > MAX_QUEUE_WAIT_MS;
      this.statements++;
      this.lastStartedAt = now;
      const conversations = new Set(batch.map((b) => b.conversationId));
      for (const id of conversations) this.inFlight.add(id);
      const statement = this.run(batch)
        // run catches what the write throws; should anything else throw, the sends still get an answer.
        .catch((error: unknown) => rejections(batch, error))
        .then((answers) => {
          this.statements--;
          for (const id of conversations) this.inFlight.delete(id);
          // The next statement goes out before these sends are answered: answering them (their
          // fan-out, their responses) would otherwise keep the database waiting for it.
          this.pump();
          for (const answer of answers) answer();
        });
      this.drain.track(statement);
    }
  }

  /**
   * The oldest waiting sends whose conversations are not in flight, in arrival order. A retry of a
   * send already in the batch (same clientMessageId) waits for the next statement, which then
   * finds what the first stored, or judges it on its own if the first was refused.
   */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const skipped = new Set<string>();
    const keys = new Set<string>();
    for (const item of this.waiting) {
      const key = item.input.clientMessageId && `${item.conversationId} ${item.actor.userId} ${item.input.clientMessageId}`;
      // Once one send of a conversation waits, later ones of it wait too: order is kept.
      const free = batch.length < MAX_BATCH && !this.inFlight.has(item.conversationId) && !skipped.has(item.conversationId);
      if (free && !(key && keys.has(key))) {
        batch.push(item);
        if (key) keys.add(key);
      } else {
        skipped.add(item.conversationId);
        rest.push(item);
      }
    }
    this.waiting = rest;
    return batch;
  }

  /** Writes the batch; answers how to answer each send (done once the next statement is out). */
  private async run(batch: Pending[]): Promise<(() => void)[]> {
    let outcomes: (SendResult | AppError)[];
    const started = performance.now();
    try {
      outcomes = await this.write(batch);
      const ms = performance.now() - started;
      this.recentMs = this.recentMs === undefined ? ms : this.recentMs + RECENT_WEIGHT * (ms - this.recentMs);
    } catch (error) {
      const retry = retryPlan(error, batch);
      if (retry) {
        const answers: (() => void)[] = [];
        for (const part of retry) answers.push(...(await this.run(part)));
        return answers;
      }
      return rejections(batch, error);
    }
    return batch.map((item, i) => {
      const outcome = outcomes[i]!;
      return outcome instanceof AppError ? () => item.reject(outcome) : () => item.resolve(outcome);
    });
  }
}

/**
 * How to retry a batch whose statement failed (it wrote nothing), so that only the sends at fault
 * fail: one at a time after an error one send's data can cause (SQLSTATE classes 22 data, 23
 * integrity, 40 rollback/deadlock; the write's transaction has already run a deadlock's victim
 * again, see withTransaction); one conversation at a time after a lock or statement timeout (one
 * conversation held by another transaction must not fail the others). Anything else (the
 * database is gone, or the commit's answer was lost) fails every send: its client may retry with
 * its clientMessageId.
 */
function retryPlan(error: unknown, batch: Pending[]): Pending[][] | undefined {
  const state = sqlStateOf(error);
  if (!state) return undefined;
  const { DATA_EXCEPTION, INTEGRITY_CONSTRAINT_VIOLATION, TRANSACTION_ROLLBACK } = SQLSTATE_CLASS;
  if ([DATA_EXCEPTION, INTEGRITY_CONSTRAINT_VIOLATION, TRANSACTION_ROLLBACK].some((c) => state.startsWith(c)) && batch.length > 1) return batch.map((item) => [item]);
  if (state === SQLSTATE.LOCK_NOT_AVAILABLE || state === SQLSTATE.QUERY_CANCELED) {
    const byConversation = Map.groupBy(batch, (item) => item.conversationId);
    if (byConversation.size > 1) return [...byConversation.values()];
  }
  return undefined;
}

/** How to answer each send of a batch that failed whole. */
const rejections = (batch: Pending[], error: unknown) => batch.map((item) => () => item.reject(error));
