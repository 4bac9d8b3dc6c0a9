/** A set of callbacks; `add` returns the function that removes the one it added. */
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  add(listener: (...args: A) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  /** A listener that throws must not stop the others, nor the client's own bookkeeping. */
  emit(...args: A): void {
    for (const listener of [...this.set]) {
      try {
        listener(...args);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

/** Retry delay: doubling from `baseMs` up to `maxMs`, with jitter so clients do not retry in step. */
export function backoff(attempt: number, baseMs = 500, maxMs = 30_000): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return delay / 2 + Math.random() * (delay / 2);
}

/** A random UUID; `crypto.randomUUID` exists only in secure contexts (https, localhost). */
export function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
