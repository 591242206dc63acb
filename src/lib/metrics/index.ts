export * from "./ranking";
export * from "./aupro";
