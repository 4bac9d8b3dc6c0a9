/**
 * Sizing user JSON (REST bodies, socket payloads, metadata) without recursion. A 1 MB body can
 * nest arrays 400,000 deep: JSON.parse takes it, but anything that then recurses into it
 * (JSON.stringify, a validator building its error message, a recursive walk) takes seconds to
 * hit the stack limit, stalls the process for every client, and throws.
 */

/** Deeper than any valid body, payload or metadata; bounds the work of looking at one. */
export const MAX_JSON_DEPTH = 64;

export type JsonSize = {
  /** Bytes of the value's JSON (binary parts: their length); past `limit`, counting stopped. */
  bytes: number;
  /** Nested more than MAX_JSON_DEPTH levels: `bytes` is then meaningless. */
  tooDeep: boolean;
};

/**
 * Walks `value` with a stack of its own, stopping as soon as it is known to be too big or too
 * deep. For parsed JSON, `bytes` is exactly what JSON.stringify would produce (UTF-8).
 */
export function jsonSize(value: unknown, limit: number): JsonSize {
  let bytes = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length && bytes <= limit) {
    const { value: item, depth } = stack.pop()!;
    if (item === null || typeof item !== "object") {
      bytes += primitiveBytes(item);
    } else if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) {
      bytes += item.byteLength;
    } else {
      if (depth >= MAX_JSON_DEPTH) return { bytes, tooDeep: true };
      if (Array.isArray(item)) {
        bytes += 2 + Math.max(0, item.length - 1);
        for (const child of item) stack.push({ value: child === undefined ? null : child, depth: depth + 1 });
      } else {
        // Like JSON.stringify, properties whose value is undefined are left out.
        const entries = Object.entries(item).filter(([, child]) => child !== undefined);
        bytes += 2 + Math.max(0, entries.length - 1);
        for (const [key, child] of entries) {
          bytes += primitiveBytes(key) + 1;
          stack.push({ value: child, depth: depth + 1 });
        }
      }
    }
  }
  return { bytes, tooDeep: false };
}

function primitiveBytes(value: unknown): number {
  if (typeof value === "string") return Buffer.byteLength(JSON.stringify(value), "utf8");
  if (typeof value === "number") return Number.isFinite(value) ? String(value).length : 4;
  if (typeof value === "boolean") return value ? 4 : 5;
  // null; anything JSON cannot carry counts like null.
  return 4;
}

/** `__proto__`, `constructor`, `toString`, …: the names every plain object answers to. */
const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Deletes, at every level, the keys named like Object.prototype's members. TypeBox's cleaning
 * takes them for known properties of every schema (it asks `key in properties`), so they were
 * refused as extra properties instead of ignored like other unknown keys; and `__proto__` is what
 * prototype pollution feeds on in whoever merges our payloads (webhook receivers included). No
 * field of ours has such a name, and none is stored, metadata included. REST bodies and socket payloads alike; runs on a
 * value already known to be at most MAX_JSON_DEPTH deep.
 */
export function dropPrototypeKeys(value: unknown): void {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const item of value) dropPrototypeKeys(item);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (PROTOTYPE_KEYS.has(key)) delete record[key];
    else dropPrototypeKeys(record[key]);
  }
}
