/** Joining the verdicts of several views (cameras, lights) of one part into one verdict. */
export * from "./types";
export { DEFAULT_JOIN_VIEWS_OPTIONS, MAX_OPEN_PARTS, MAX_TIMEOUT_MS, MAX_VIEWS, parseJoinViewsOptions, parseViewNames } from "./options";
export { joinVerdict, ViewJoin } from "./join";
export { readViewArrival, readViewName, readViewPart } from "./input";
