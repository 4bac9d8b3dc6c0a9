/**
 * The token check of the bench's reference Socket.IO servers (Node.js and Bun alike, so plain
 * JavaScript): an HS256 JWT in `auth.token` signed with AUTH_JWT_SECRET, its `sub` the user id.
 */
import { jwtVerify } from "jose";

const key = new TextEncoder().encode(process.env.AUTH_JWT_SECRET ?? "");

/** Socket.IO middleware: sets `socket.data.userId`, or refuses with `connect_error` UNAUTHORIZED. */
export async function tokenCheck(socket, next) {
  try {
    const { payload } = await jwtVerify(String(socket.handshake.auth?.token ?? ""), key, { algorithms: ["HS256"] });
    if (typeof payload.sub !== "string") throw new Error("no subject");
    socket.data.userId = payload.sub;
    next();
  } catch {
    next(Object.assign(new Error("UNAUTHORIZED"), { data: { code: "UNAUTHORIZED" } }));
  }
}
