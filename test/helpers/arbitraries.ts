/**
 * fast-check arbitraries built from the TypeBox schemas the service validates with, for fuzzing
 * every REST body and socket payload: values shaped like the schema (reaching the handlers), and
 * near misses (one field wrong, missing or at a bound) that probe the validation around them.
 */
import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";
import fc from "fast-check";
import { EXTERNAL_ID_PATTERN } from "../../src/core/auth";

/** Values worth mixing in: ids that exist, so that shaped values get past the 404s. */
export type Hints = { uuids: string[]; userIds: string[] };

const UUID_PATTERN = /^\^\[0-9a-fA-F\]\{8\}/;
const MAX_COLLECTION = 5;
const MAX_STRING = 60;

type Schema = TSchema & Record<string, any>;

/** Texts that have broken parsers and databases: NUL, a lone surrogate, control characters, huge. */
const nastyStrings = fc.constantFrom("", " ", "\u0000", "\ud800", "a\u0000b", "\u202e", "💬", "__proto__", "constructor", "%", "../", "null", "x".repeat(5000));

export function valueOf(schema: Schema, hints: Hints): fc.Arbitrary<unknown> {
  switch (schema[Kind]) {
    case "Object":
      return objectOf(schema, hints);
    case "String":
      return stringOf(schema, hints);
    case "Integer":
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: Math.min(schema.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER) });
    case "Number":
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true });
    case "Boolean":
      return fc.boolean();
    case "Literal":
      return fc.constant(schema.const);
    case "Null":
      return fc.constant(null);
    case "Undefined":
      return fc.constant(undefined);
    case "Array":
      return fc.array(valueOf(schema.items, hints), { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? MAX_COLLECTION, MAX_COLLECTION)) });
    case "Union":
      return fc.oneof(...(schema.anyOf as Schema[]).map((s) => valueOf(s, hints)));
    case "Record":
      return fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
    default:
      // Unknown, Any and whatever kind a schema adds later: any JSON.
      return fc.jsonValue({ maxDepth: 3 });
  }
}

function objectOf(schema: Schema, hints: Hints): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const shapes = Object.fromEntries(Object.entries(properties).map(([key, s]) => [key, valueOf(s, hints)]));
  const requiredKeys = Object.keys(properties).filter((key) => !properties[key]![OptionalKind] && (schema.required ?? []).includes(key));
  return fc.record(shapes, { requiredKeys }) as fc.Arbitrary<Record<string, unknown>>;
}

function stringOf(schema: Schema, hints: Hints): fc.Arbitrary<string> {
  const maxLength = Math.min(schema.maxLength ?? MAX_STRING, MAX_STRING);
  const minLength = Math.min(schema.minLength ?? 0, maxLength);
  if (schema.format === "uuid" || (typeof schema.pattern === "string" && UUID_PATTERN.test(schema.pattern))) {
    return hints.uuids.length ? fc.oneof(fc.constantFrom(...hints.uuids), fc.uuid()) : fc.uuid();
  }
  // Elysia's numbers also take their text form (query strings): `{ type: "string", format: "integer" }`.
  if (schema.format === "integer") return fc.integer({ min: -10, max: 1000 }).map(String);
  if (schema.format === "numeric") return fc.double({ min: -10, max: 1000, noNaN: true }).map(String);
  if (typeof schema.pattern === "string") {
    const matching = fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? Infinity));
    const userIds = schema.pattern === EXTERNAL_ID_PATTERN && hints.userIds.length ? [fc.constantFrom(...hints.userIds)] : [];
    return fc.oneof(...userIds, matching);
  }
  return fc.string({ minLength, maxLength, unit: "grapheme" });
}

/**
 * Almost right: a shaped value with one thing wrong — a field replaced by any JSON value or a
 * nasty string, a field removed, a key added, a string one past its bound — or no shape at all.
 */
export function nearMiss(schema: Schema, hints: Hints): fc.Arbitrary<unknown> {
  const anything = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nastyStrings);
  if (schema[Kind] !== "Object") return fc.oneof(valueOf(schema, hints), anything);
  const keys = Object.keys(schema.properties ?? {});
  if (keys.length === 0) return fc.oneof(valueOf(schema, hints), anything);
  const overLength = (key: string) => {
    const max = (schema.properties[key] as Schema).maxLength;
    return typeof max === "number" ? "y".repeat(max + 1) : "";
  };
  return fc
    .tuple(valueOf(schema, hints), fc.constantFrom(...keys), anything, fc.constantFrom("replace", "remove", "extra", "overLength", "proto"))
    .map(([value, key, other, how]) => {
      const copy = { ...(value as Record<string, unknown>) };
      if (how === "replace") copy[key] = other;
      else if (how === "remove") delete copy[key];
      else if (how === "extra") copy[`${key}Extra`] = other;
      else if (how === "overLength") copy[key] = overLength(key);
      else return JSON.parse(`{"__proto__": ${JSON.stringify(other ?? null)}, ${JSON.stringify(key)}: ${JSON.stringify(copy[key] ?? null)}}`);
      return copy;
    });
}

/** What a fuzzed REST body or socket payload is: shaped, nearly shaped, or any JSON at all. */
export function payloadOf(schema: Schema | undefined, hints: Hints): fc.Arbitrary<unknown> {
  const anything = fc.oneof(fc.jsonValue({ maxDepth: 4 }), nastyStrings);
  if (!schema) return anything;
  return fc.oneof({ arbitrary: valueOf(schema, hints), weight: 2 }, { arbitrary: nearMiss(schema, hints), weight: 2 }, { arbitrary: anything, weight: 1 });
}

/**
 * Runs a property `runs` times (FUZZ_RUNS overrides; FUZZ_SEED replays a failure) and throws
 * fast-check's report, which names the seed and the counterexample, when it fails.
 */
export async function fuzz<T>(what: string, arbitrary: fc.Arbitrary<T>, check: (value: T) => Promise<void>, runs: number): Promise<void> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
  const details = await fc.check(fc.asyncProperty(arbitrary, check), {
    numRuns: Number(process.env.FUZZ_RUNS ?? runs),
    seed,
    // Each run is a real request; shrinking a failure re-runs it many times, so keep it short.
    endOnFailure: false,
    interruptAfterTimeLimit: 60_000,
  });
  if (details.failed) throw new Error(`${what}: fuzzing failed (replay with FUZZ_SEED=${details.seed})\n${fc.defaultReportMessage(details)}`);
}
