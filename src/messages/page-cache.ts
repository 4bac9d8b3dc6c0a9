/**
 * The newest pages of conversations as they were last answered, each with the fingerprint of the
 * row versions it was built from (see `FINGERPRINT` in page.ts). A page is the same for every
 * member, so one entry serves them all; the page statement still judges each caller and their
 * membership, and answers the entry only while the rows it shows are the very ones it was built
 * from. Building a page's JSON was most of what a page cost (the database's time and the service's).
 * Kept per instance and bounded by its text's size, least recently answered dropped first.
 */
export class PageCache {
  private entries = new Map<string, { fingerprint: string; text: string }>();
  private bytes = 0;
  /** Newest pages answered from an entry, and built by the statement (for metrics). */
  readonly answered = { kept: 0, built: 0 };

  constructor(private readonly maxBytes: number) {}

  /** The entry's fingerprint (undefined: none). A hit is taken with `take`. */
  fingerprintOf(key: string): string | undefined {
    return this.entries.get(key)?.fingerprint;
  }

  /** The page built with this fingerprint, now the most recently answered. */
  take(key: string, fingerprint: string): string | undefined {
    const entry = this.entries.get(key);
    if (entry?.fingerprint !== fingerprint) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.answered.kept++;
    return entry.text;
  }

  /** A newest page the statement built, kept for the next readers. */
  set(key: string, fingerprint: string, text: string): void {
    this.answered.built++;
    this.drop(key);
    // JavaScript strings take two bytes a character at most.
    const size = 2 * text.length;
    if (size > this.maxBytes) return;
    this.entries.set(key, { fingerprint, text });
    this.bytes += size;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldest);
    }
  }

  get size(): { pages: number; bytes: number } {
    return { pages: this.entries.size, bytes: this.bytes };
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= 2 * entry.text.length;
  }
}
