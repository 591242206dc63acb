export * from "./ranking";
export * from "./aupro";
export * from "./pixel-auroc";
