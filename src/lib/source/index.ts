export * from "./read-file";
export * from "./file-pattern";
export * from "./fetch-snapshot";
export * from "./folder-watcher";
export * from "./source-options";
export * from "./load-image";
export * from "./retry";
export * from "./confine";
