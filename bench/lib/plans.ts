/**
 * EXPLAIN ANALYZE of the service's own statements (built by its query builders), as the service
 * runs them: a statement the service prepares is explained with its generic plan, the one a
 * prepared statement settles on after its first executions.
 */
import type postgres from "postgres";

type Built = { sql: string; params: unknown[] };

const literal = (value: unknown): string => {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return literal(`{${value.map((v) => `"${String(v).replace(/["\\]/g, "\\$&")}"`).join(",")}}`);
  if (value instanceof Date) return literal(value.toISOString());
  return `'${String(value).replace(/'/g, "''")}'`;
};

/** Drizzle's params, with each placeholder replaced by its value from `values`. */
export function bind(built: { sql: string; params: unknown[] }, values: Record<string, unknown> = {}): Built {
  const params = built.params.map((p) => (p && typeof p === "object" && "name" in p && (p as { name: unknown }).name !== undefined && !Array.isArray(p) ? values[(p as { name: string }).name] : p));
  return { sql: built.sql, params };
}

/** The generic plan of a prepared statement, executed once with these values in a transaction rolled back. */
export async function genericPlan(sql: postgres.Sql, statement: Built): Promise<string[]> {
  const db = await sql.reserve();
  try {
    await db`begin`;
    await db`set local plan_cache_mode = force_generic_plan`;
    await db.unsafe(`prepare bench_plan as ${statement.sql}`);
    const rows = await db.unsafe(`explain (analyze, buffers, costs off) execute bench_plan(${statement.params.map(literal).join(", ")})`);
    return rows.map((row) => String(Object.values(row)[0]));
  } finally {
    await db`rollback`;
    // Not `deallocate all`: that would drop the driver's own prepared statements on this connection.
    await db.unsafe("deallocate bench_plan").catch(() => {});
    db.release();
  }
}

/** The plan of a statement sent unprepared (planned with its values), in a transaction rolled back. */
export async function customPlan(sql: postgres.Sql, statement: Built): Promise<string[]> {
  const db = await sql.reserve();
  try {
    await db`begin`;
    const rows = await db.unsafe(`explain (analyze, buffers, costs off) ${statement.sql}`, statement.params as never[], { prepare: false });
    return rows.map((row) => String(Object.values(row)[0]));
  } finally {
    await db`rollback`;
    db.release();
  }
}

/** The lines that tell how rows are found: scans, sorts, joins, and the execution time. */
export const planSummary = (plan: string[]) =>
  plan
    .map((line) => line.trim().replace(/^->\s*/, ""))
    .filter((line) => /^(Seq Scan|Index Scan|Index Only Scan|Bitmap|Sort|Incremental Sort|Nested Loop|Hash Join|Hash Left Join|Hash Right Join|Merge Join|Limit|Aggregate|Insert|Update|SubPlan|Execution Time)/.test(line))
    .map((line) => line.replace(/\s*\(actual.*$/, "").replace(/ using /, " "));

/** Scans that read a table in whole. */
export const seqScans = (plan: string[]) => plan.filter((line) => /Seq Scan/.test(line)).map((line) => line.trim().replace(/^->\s*/, ""));
