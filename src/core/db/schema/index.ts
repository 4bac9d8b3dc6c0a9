export * from "./conversations";
export * from "./messages";
export * from "./notification-jobs";
export * from "./participants";
export * from "./reactions";
export * from "./read-marks";
export * from "./users";
export * from "./webhook-events";
