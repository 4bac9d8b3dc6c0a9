import type { Socket } from "socket.io";

/** Socket.IO middleware: sets `socket.data.userId`, or refuses with `connect_error` UNAUTHORIZED. */
export function tokenCheck(socket: Socket, next: (error?: Error) => void): Promise<void>;
