export * from "./conversations";
export * from "./messages";
export * from "./participants";
export * from "./reactions";
export * from "./read-marks";
export * from "./users";
export * from "./webhook-events";
export * from "./user-blocks";
