/** The vision station (OPC 40100 VisionSystem) without OPC UA: state machine, recipes, results. */
export * as machine from "./machine";
export { createRecipeBook, filterRecipes, MAX_SEEN_RECIPES, page, type Page, type RecipeBook, type RecipeFilter } from "./recipes";
export { createResultStore, RESULT_COMPLETED, resultIdOf, type ResultFilter, type ResultStore, type StoredResult } from "./result-store";
export { visionResult, type ProcessingTimes, type VisionResult } from "./result-fields";
export { DEFAULT_MAX_RESULTS, DEFAULT_PATH, DEFAULT_PORT, parseRecipeList, parseStationOptions, type StationOptions } from "./options";
export { createStation, type StartArguments, type Station, type StationListener } from "./station";
export type { AutomaticState, JobCommand, JobTrigger, MachineState, MethodStatus, SystemState } from "./types";
