/** One JSON object per line, like the chat service's own logs. */
export function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", msg, ...fields }));
}
