/**
 * Calls to the host application: its session endpoints, and the chat service's REST API through
 * the host's proxy (same origin, the session cookie decides who calls).
 */
export type User = { id: string; name: string };

export class HostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new HostError(res.status, json.error?.code ?? "INTERNAL", json.error?.message ?? res.statusText);
  return json as T;
}

export const host = {
  me: () => request<User>("GET", "/session"),
  signIn: (name: string) => request<User>("POST", "/session", { name }),
  signOut: () => request<void>("DELETE", "/session"),
  chatToken: () => request<{ token: string; url: string }>("GET", "/session/token"),
  people: () => request<User[]>("GET", "/people"),
  /** The chat service's REST API, through the host. */
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body: unknown) => request<T>("POST", path, body),
};
