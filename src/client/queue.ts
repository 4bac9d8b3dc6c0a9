import { ChatError } from "./errors";

/**
 * The reads a client makes for itself (sync pages and presence snapshots of every open
 * conversation, all at once after a reconnect) go a few at a time: the service gives each socket
 * a budget of events and cuts a socket that keeps going far past it. A RATE_LIMITED answer pauses
 * them all for the `retryAfter` it names, then the refused read is made again.
 */
export class ReadQueue {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private pausedUntil = 0;

  constructor(private readonly concurrency = 4) {}

  async run<T>(read: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.acquire();
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof ChatError) || error.code !== "RATE_LIMITED") throw error;
        const retryAfter = (error.details as { retryAfter?: number } | undefined)?.retryAfter ?? 1;
        this.pausedUntil = Math.max(this.pausedUntil, Date.now() + retryAfter * 1000);
      } finally {
        this.release();
      }
    }
  }

  private async acquire(): Promise<void> {
    while (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    const pause = this.pausedUntil - Date.now();
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }
}
