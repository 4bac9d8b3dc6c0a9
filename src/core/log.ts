/** Structured JSON-line logger: one object per line on stdout (errors on stderr). */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
  readonly level: LogLevel;
}

/** Keys whose values never reach a log line, wherever they appear (AUTH_JWT_SECRET, accessToken, …). */
const SECRET_KEYS = /^(authorization|cookie|set-cookie)$|secret|passw|token$|api[-_]?key/i;

/**
 * Secrets inside text (an error message quoting a header or a URL): JWTs, bearer tokens, URL
 * passwords; and the parameters drizzle appends to a failed query, which hold users' content.
 */
const scrub = (text: string) =>
  text
    .replace(/^(params: ).*$/gm, "$1[redacted]")
    .replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, "[redacted-jwt]")
    .replace(/\b(bearer\s+)[^\s"',;]+/gi, "$1[redacted]")
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/\s]+@/gi, "$1[redacted]@");

function clean(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrub(value);
  if (value instanceof Error) {
    // A driver's error often says little itself: its `code` (a Postgres SQLSTATE, ECONNREFUSED)
    // and its `cause` (what a wrapper such as drizzle's query error wraps) say what went wrong.
    const { code, cause } = value as Error & { code?: unknown };
    return {
      name: value.name,
      message: scrub(value.message),
      ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
      ...(cause !== undefined && depth < 4 ? { cause: clean(cause, depth + 1) } : {}),
      stack: value.stack && scrub(value.stack),
    };
  }
  if (value === null || typeof value !== "object" || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) ? "[redacted]" : clean(v, depth + 1);
  return out;
}

/** Where lines go: stdout, and stderr for warnings and errors (tests pass their own). */
export type LogOutput = (line: string, level: Exclude<LogLevel, "silent">) => void;
const stdio: LogOutput = (line, level) => (level === "error" || level === "warn" ? process.stderr : process.stdout).write(line + "\n");

export function createLogger(level: LogLevel = "info", base: Fields = {}, output: LogOutput = stdio): Logger {
  const threshold = RANK[level];
  const write = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Fields) => {
    if (RANK[lvl] < threshold) return;
    output(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: scrub(msg), ...(clean({ ...base, ...fields }) as Fields) }), lvl);
  };
  return {
    level,
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, output),
  };
}
