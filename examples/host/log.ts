/** Where the host's log lines go; by default one JSON object per line, like the chat service's. */
export type Log = (msg: string, fields?: Record<string, unknown>) => void;

export const jsonLog: Log = (msg, fields = {}) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", msg, ...fields }));
};
