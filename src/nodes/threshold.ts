/**
 * defect-threshold: turns the detector's score into OK / UNCERTAIN / NG and its anomaly map into
 * a binary mask. The threshold is fixed, or calibrated from sample messages (good parts only, or
 * labelled good and defect parts) and kept in the user directory across restarts.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import {
  addTiming,
  endCommand,
  isCalibrationSample,
  isControlAnswer,
  isRecord,
  readCommand,
  readHandedCalibration,
  readScore,
  writeMask,
  readRecipe,
  readResultLabels,
  writeRecipe,
  writeResult,
} from "../lib/message";
import { MAX_RECIPE_CACHE, RecipeCache, recipePath } from "../lib/recipes";
import { isDefectError } from "../lib/errors";
import {
  calibrationFilePath,
  calibrationParameters,
  checkRecordMatches,
  deleteCalibration,
  isCalibratedMode,
  loadCalibration,
  parseThresholdOptions,
  readScoreMap,
  sampleLabel,
  saveCalibration,
  thresholdMap,
  ThresholdSession,
  type CalibrationRecord,
  type ThresholdOptions,
  type Verdict,
} from "../lib/threshold";
import { attachController, detachController, registerAdminEndpoint, type AdminAction } from "./threshold-admin";
import { resultCalibration } from "./threshold-result";
import { startResultNumbering } from "./shared/result-numbering";
import type { ThresholdNodeDef } from "./threshold-def";
import { createErrorRouter, translateError } from "./shared/errors";
import { handleInput, rejectInput } from "./shared/input";
import { messageProperty } from "./shared/message";
import { clockTime } from "./shared/clock";
import { baseDirectory } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-threshold";
/** Thresholds in the status are rounded to this many significant digits; messages keep them whole. */
const STATUS_DIGITS = 4;
const COMMANDS = ["calibrate", "reset"] as const;

const STATES = {
  loading: { fill: "grey", shape: "ring" },
  ready: { fill: "green", shape: "ring" },
  calibrating: { fill: "blue", shape: "dot" },
  uncalibrated: { fill: "yellow", shape: "ring" },
  recalibrate: { fill: "yellow", shape: "ring" },
  ok: { fill: "green", shape: "dot" },
  ng: { fill: "red", shape: "dot" },
  uncertain: { fill: "yellow", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

const VERDICT_STATES: Record<Verdict, "ok" | "ng" | "uncertain"> = { OK: "ok", NG: "ng", UNCERTAIN: "uncertain" };

type Request = { kind: "command"; command: AdminAction } | { kind: "sample" } | { kind: "inspect" };

function readRequest(msg: NodeMessageInFlow): Request {
  const command = readCommand(msg, COMMANDS);
  if (command !== undefined) return { kind: "command", command };
  return isCalibrationSample(msg) ? { kind: "sample" } : { kind: "inspect" };
}

function formatThreshold(value: number): string {
  return String(Number(value.toPrecision(STATUS_DIGITS)));
}

/** 0.00995 -> "0.995" (percent, 3 significant digits). */
function formatPercent(rate: number): string {
  return String(Number((rate * 100).toPrecision(3)));
}

export = function register(RED: NodeAPI): void {
  registerAdminEndpoint(RED, TYPE);

  function ThresholdNode(this: Node, config: ThresholdNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES, (key) => RED._(key));
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: ThresholdOptions;
    try {
      options = parseThresholdOptions({ ...config });
    } catch (error) {
      rejectInput(node, errors.config(error));
      attachController(node, () => Promise.reject(error));
      node.on("close", () => detachController(node));
      return;
    }
    const filePath = calibrationFilePath(baseDirectory(RED), node.id);
    /** File writes and deletes in order, so the last calibration is the one on disk. */
    let fileWork: Promise<unknown> = Promise.resolve();

    function queued<T>(work: () => Promise<T>): Promise<T> {
      const run = fileWork.then(work);
      fileWork = run.catch(() => undefined);
      return run;
    }

    /** The product decided now (msg.recipe): each has its own calibration. */
    let current: string | undefined;
    const sessions = new RecipeCache<ThresholdSession>({ size: MAX_RECIPE_CACHE, open, close: async () => undefined });

    function showState(session: ThresholdSession): void {
      const state = session.state;
      switch (state.kind) {
        case "calibrating":
          status.setText("calibrating", RED._(`${TYPE}.status.calibrating`, { count: state.count, total: state.total }));
          return;
        case "uncalibrated":
          status.set(session.savedRefusal === undefined ? "uncalibrated" : "recalibrate");
          return;
        case "ready": {
          const values = { mode: state.mode, threshold: formatThreshold(state.thresholds.threshold) };
          // The rate a good-only calibration promises, so the line sees what it was set to keep.
          const promise = session.calibration?.promise;
          if (promise === undefined) status.setText("ready", RED._(`${TYPE}.status.ready`, values));
          else status.setText("ready", RED._(`${TYPE}.status.readyPromise`, { ...values, frr: formatPercent(promise.frr) }));
        }
      }
    }

    /**
     * "NG since 14:03:27": the verdict and when it began. Sent only when the verdict changes, so a
     * line at 30 parts a second sends no status for a run of equal verdicts.
     */
    function showVerdict(state: "ok" | "ng" | "uncertain"): void {
      if (status.current === state) return;
      status.setText(state, RED._(`${TYPE}.status.verdict`, { verdict: RED._(`${TYPE}.status.${state}`), time: clockTime(new Date()) }));
    }

    /** A saved calibration of another version, mode or parameters is logged and left on disk. */
    async function open(recipe: string | undefined): Promise<ThresholdSession> {
      const session = new ThresholdSession(options);
      if (!isCalibratedMode(options.mode)) return session;
      const path = recipePath(filePath, recipe);
      try {
        const record = await loadCalibration(path);
        if (record !== undefined) {
          checkRecordMatches(record, options.mode, calibrationParameters(options), path);
          session.restore(record);
        }
      } catch (error) {
        const translated = translateError(RED, TYPE, error);
        session.refuseSaved(translated.message);
        node.warn(translated.message);
      }
      return session;
    }

    /** Saved before answering, so a redeploy right after the answer finds the file. */
    async function save(record: CalibrationRecord, msg: NodeMessage, recipe: string | undefined): Promise<void> {
      try {
        await queued(() => saveCalibration(recipePath(filePath, recipe), record));
      } catch (error) {
        // The calibration is used anyway until the next restart; Catch learns that it is not saved.
        errors.report(error, msg);
      }
    }

    async function runCommand(session: ThresholdSession, command: AdminAction, msg: NodeMessage, recipe: string | undefined): Promise<Record<string, unknown>> {
      if (command === "calibrate") {
        const calibration = session.calibrate(new Date());
        await save(calibration, msg, recipe);
        return { calibration };
      }
      session.reset();
      return { deleted: await queued(() => deleteCalibration(recipePath(filePath, recipe))) };
    }

    /**
     * A learning result that hands over good scores becomes this node's calibration answer
     * (msg.payload as for the sample that completes a calibration, the detector's answer in
     * msg.detection). When the scores cannot calibrate (too few for the false-reject rate) the
     * log says why and how many are needed, and the learning result goes on unchanged: the fit
     * itself succeeded, and good samples sent later add to the kept scores.
     */
    async function calibrateFromHandover(session: ThresholdSession, msg: NodeMessage, detection: unknown, recipe: string | undefined): Promise<void> {
      const handed = readHandedCalibration(detection);
      if (handed === undefined) return;
      let calibration: CalibrationRecord;
      try {
        calibration = session.handover(handed, new Date());
      } catch (error) {
        if (!isDefectError(error) || error.code !== "calibrationFailed") throw error;
        node.warn(translateError(RED, TYPE, error).message);
        return;
      }
      await save(calibration, msg, recipe);
      const count = handed.scores.length;
      msg.payload = { calibrating: true, count, total: count, label: "good", handover: handed.kind, calibration };
      msg["detection"] = detection;
      showState(session);
    }

    status.set("loading");
    const results = startResultNumbering(RED, node, TYPE);
    const opened = sessions.use(undefined, (session) => session);
    opened.then(showState, (error: unknown) => errors.config(error));

    attachController(node, async (action) => {
      await opened;
      const recipe = current;
      return sessions.use(recipe, async (session) => {
        const result = { action, ...(await runCommand(session, action, { _msgid: RED.util.generateId() }, recipe)) };
        showState(session);
        return result;
      });
    });

    handleInput(node, errors, async (msg, send) => {
      await opened;
      // The product the detector (or the flow) named; a message naming none is the current one's.
      const recipe = readRecipe(msg) ?? current;
      current = recipe;
      status.setTag(recipe);
      await sessions.use(recipe, (session) => decide(session, msg, recipe));
      writeRecipe(msg, recipe);
      send(msg);
    });

    async function decide(session: ThresholdSession, msg: NodeMessageInFlow, recipe: string | undefined): Promise<void> {
      const request = readRequest(msg);
      const detection = msg.payload;
      if (request.kind === "command") {
        msg.payload = { command: request.command, ...(await runCommand(session, request.command, msg, recipe)) };
        // Handled here: the nodes after must not run the same command again.
        endCommand(msg);
        showState(session);
      } else if (request.kind === "inspect" && isControlAnswer(detection)) {
        // The detector's learning and command answers carry no score: passed on, after a
        // good-only mode calibrated from the good scores a new fit hands over.
        if (session.takesHandover) await calibrateFromHandover(session, msg, detection, recipe);
        return;
      } else if (request.kind === "sample") {
        const score = readScore(detection);
        const label = messageProperty(RED, msg, options.labelProperty);
        const answer = session.addSample(score, sampleLabel(label, msg["filename"], options.labelProperty), new Date());
        if (answer.calibration !== undefined) await save(answer.calibration, msg, recipe);
        msg.payload = answer;
        writeMask(msg, null);
        showState(session);
      } else {
        const started = performance.now();
        const score = readScore(detection);
        // Read before deciding, so a bad map or part id leaves the hysteresis memory as it was.
        const labels = readResultLabels(msg, detection);
        const map = readScoreMap(msg);
        const decision = session.inspect(score);
        msg.payload = decision;
        if (map === undefined) {
          writeMask(msg, null);
        } else {
          const threshold = session.pixelThreshold(decision);
          writeMask(msg, { data: thresholdMap(map.data, threshold), width: map.width, height: map.height, space: map.space, threshold });
        }
        const { id, unsaved } = await results.next();
        // Numbered anyway: the verdict matters more than the counter; Catch learns it is not saved.
        if (unsaved !== undefined) errors.report(unsaved, msg);
        showVerdict(VERDICT_STATES[decision.verdict]);
        addTiming(msg, "thresholdMs", performance.now() - started);
        const calibration = resultCalibration(decision, session.calibration);
        writeResult(msg, { id, station: node.id, created: new Date(), verdict: decision.verdict, score, calibration, detection, labels });
      }
      if (request.kind !== "command" && isRecord(detection)) msg["detection"] = detection;
    }

    node.on("close", (removed: boolean, done: () => void) => {
      detachController(node);
      void opened
        .catch(() => undefined)
        .then(() => fileWork)
        .then(() => results.close())
        .finally(() => {
          if (removed) status.clear();
          done();
        });
    });
  }

  RED.nodes.registerType(TYPE, ThresholdNode);
};
