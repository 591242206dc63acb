export * from "./types";
export { parseAlarmOptions, DEFAULT_ALARM_OPTIONS, MAX_WINDOW_PARTS } from "./options";
export { createAlarmState, feed, acknowledge, reset, recordError, alarmActive } from "./machine";
export type { AlarmState, ActiveAlarm, PartCounts, Step } from "./machine";
export { countsAsNg, describeRule } from "./rules";
export { evidenceOf, EVIDENCE_REGIONS } from "./evidence";
export { readCommand, readInspection, ALARM_COMMANDS } from "./input";
export type { AlarmCommand } from "./input";
