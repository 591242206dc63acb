/**
 * Reading one view's verdict message: which view it is, which part, and what its threshold node
 * (and mask to region) decided. Message values are unknown until checked.
 */
import { readVerdict } from "../alarm/input";
import { DefectError } from "../errors";
import { readIdentifier, readPartId, readRecipe, readRegionsIfAny, readResultSource, scoreOf, type MessageView } from "../message";
import type { ViewArrival } from "./types";

function viewText(value: unknown): string | undefined {
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * The view a message names: `named` (the node's *View in* property, read by the caller), else
 * msg.topic; unknownView when neither names one of `views`.
 */
export function readViewName(named: unknown, topic: unknown, property: string, views: readonly string[]): string {
  const view = viewText(named) ?? viewText(topic);
  if (view === undefined) {
    throw new DefectError("unknownView", `the message names no view: msg.${property} and msg.topic are empty; expected one of ${views.join(", ")}`, {
      view: "",
      views: views.join(", "),
    });
  }
  if (!views.includes(view)) {
    throw new DefectError("unknownView", `view "${view}" is not one of the expected views ${views.join(", ")}`, { view, views: views.join(", ") });
  }
  return view;
}

/** The part a view's message is about; noPartId when it names none (a view cannot be joined without one). */
export function readViewPart(msg: MessageView, view: string): string {
  const partId = readPartId(msg);
  if (partId === undefined) {
    throw new DefectError("noPartId", `view "${view}" has no part id (msg.result.partId, msg.payload.partId or msg.partId): its views cannot be joined`, {
      view,
    });
  }
  return partId;
}

/**
 * One view's verdict message, read whole: noVerdictInput without a verdict, noPartId without a
 * part id, invalidOption for a part, job or recipe id that is neither text nor a number.
 */
export function readViewArrival(msg: MessageView, view: string): ViewArrival {
  const verdict = readVerdict(msg.payload);
  const partId = readViewPart(msg, view);
  const source = readResultSource(msg);
  return {
    view,
    partId,
    verdict,
    score: scoreOf(msg.payload) ?? null,
    station: source.station,
    resultId: source.id,
    regions: readRegionsIfAny(msg),
    jobId: source.jobId ?? readIdentifier(msg.jobId, "jobId") ?? null,
    recipe: source.recipe ?? readRecipe(msg) ?? null,
    times: source.times,
  };
}
