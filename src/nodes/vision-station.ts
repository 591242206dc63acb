/**
 * defect-vision-station: the line as an OPC 40100 (OPC UA for Machine Vision) VisionSystem. An
 * OPC UA client (a PLC, an MES) selects automatic mode, prepares a recipe and starts jobs; each
 * job command leaves on the output as a message that triggers the flow (an image source), and
 * each verdict that comes back with its result record is published as a ResultReady event and
 * kept for GetResultById. The station core is in src/lib/station; node-opcua (an optional peer
 * dependency) is loaded only here, when the node is deployed.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { DefectError, isDefectError } from "../lib/errors";
import { isControlAnswer, readRecipe, readResultRecord, writeJobMessage } from "../lib/message";
import { createStation, parseStationOptions, visionResult, type MachineState, type Station, type StationOptions } from "../lib/station";
import { loadNodeOpcua } from "../lib/station/opcua/load";
import { startVisionServer, type VisionServer } from "../lib/station/opcua/server";
import type { VisionStationNodeDef } from "./vision-station-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput } from "./shared/input";
import { baseDirectory } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-vision-station";
/** Beside the detectors' models and the thresholds' calibrations. */
const STATION_FOLDER = "defect-detection";

const STATES = {
  starting: { fill: "grey", shape: "ring" },
  idle: { fill: "yellow", shape: "ring" },
  ready: { fill: "green", shape: "ring" },
  running: { fill: "green", shape: "dot" },
  halted: { fill: "grey", shape: "dot" },
  failed: { fill: "red", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

type Look = keyof typeof STATES;

function lookOf(state: MachineState): Look {
  if (state.state === "Halted") return "halted";
  if (state.state === "Error") return "failed";
  if (state.automatic === "SingleExecution" || state.automatic === "ContinuousExecution") return "running";
  return state.automatic === "Ready" ? "ready" : "idle";
}

export = function register(RED: NodeAPI): void {
  function VisionStationNode(this: Node, config: VisionStationNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: StationOptions;
    let opcua: ReturnType<typeof loadNodeOpcua>;
    try {
      options = parseStationOptions({ ...config });
      opcua = loadNodeOpcua();
    } catch (error) {
      rejectInput(node, errors.config(error));
      // The status names the command that fixes it, not only "error".
      if (isDefectError(error) && error.code === "dependencyMissing") status.setText("error", RED._(`${TYPE}.status.dependencyMissing`));
      return;
    }
    let server: VisionServer | undefined;
    /** Why the server did not start: every message fails with it, so Catch nodes learn the station is down. */
    let startError: unknown;
    let closed = false;

    function stateText(state: MachineState): string {
      const label = RED._(`${TYPE}.state.${state.automatic ?? state.state}`);
      return server === undefined ? label : `${label} · ${server.endpointUrl}`;
    }

    function showState(state: MachineState): void {
      if (status.current === "error" && server === undefined) return;
      status.setText(lookOf(state), stateText(state));
    }

    const station: Station = createStation(options, {
      stateChanged(state) {
        server?.vision.showState(state);
        showState(state);
      },
      job(trigger) {
        const msg: NodeMessage = {};
        writeJobMessage(msg, trigger);
        node.send(msg);
      },
      result(stored) {
        server?.vision.publishResult(visionResult(stored));
      },
    });

    // node-opcua keeps the server's certificate here, so clients that trusted it keep trusting it after a redeploy.
    const pkiFolder = join(baseDirectory(RED), STATION_FOLDER, `${node.id}.opcua-pki`);
    status.set("starting");
    const started = startVisionServer(
      opcua,
      {
        port: options.port,
        host: options.host,
        path: options.path,
        pkiFolder,
        applicationName: config.name || RED._(`${TYPE}.label.default`),
      },
      station,
    ).then(
      async (running) => {
        // Closed while starting: the port is freed at once.
        if (closed) return running.stop();
        server = running;
        showState(station.state);
        node.log(RED._(`${TYPE}.log.listening`, { endpoint: running.endpointUrl }));
      },
      (error: unknown) => {
        errors.config(error);
        startError = error;
      },
    );

    handleInput(node, errors, async (msg: NodeMessageInFlow) => {
      if (startError !== undefined) throw startError;
      // Learning, calibration and command answers of the nodes before travel the same wire; they are no result.
      if (isControlAnswer(msg.payload)) return;
      if (msg["error"] !== undefined && msg["error"] !== null) {
        // From a Catch node: an inspection failed, so the station is in error until Reset.
        station.fail();
        return;
      }
      const recipe = readRecipe(msg);
      if (recipe !== undefined) station.seeRecipe(recipe);
      const record = readResultRecord(msg);
      if (record === null) {
        // A message that only names a recipe adds it to the list; anything else is a verdict without its record.
        if (recipe !== undefined) return;
        throw new DefectError("noResultInput", "The message has no msg.result: wire the threshold node (or mask to region after it) to the station", {});
      }
      station.addResult(record);
    });

    node.on("close", (removed: boolean, done: () => void) => {
      closed = true;
      const stop = async (): Promise<void> => {
        await started;
        if (server !== undefined) await server.stop();
        server = undefined;
        // A deleted station's certificate goes with it; a redeployed one keeps its own.
        if (removed) await rm(pkiFolder, { recursive: true, force: true });
      };
      stop().then(
        () => {
          if (removed) status.clear();
          done();
        },
        (error: unknown) => {
          node.warn(RED._(`${TYPE}.log.stopFailed`, { message: String(error) }));
          done();
        },
      );
    });
  }

  RED.nodes.registerType(TYPE, VisionStationNode);
};
