/**
 * The vision station as an OPC 40100 client sees it: a real node-opcua client on 127.0.0.1 browses
 * the VisionSystem, walks its state machine through SelectModeAutomatic, PrepareRecipe and
 * StartSingleJob (the node sends the trigger on its output), and receives the verdict a real
 * threshold node sends into the station as a ResultReady event, then fetches it with
 * GetResultById. Wrong-state calls get the specification's status codes. One server for the
 * scenario (its steps build on each other, in order); a redeploy on the same port at the end
 * shows the port freed. Then deploy-time refusals, which start no server.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import Module from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { DataType } from "node-opcua";
import type { ResultRecord } from "../../src/lib/message";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import stationNode from "../../src/nodes/vision-station";
import type { VisionStationNodeDef } from "../../src/nodes/vision-station-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { freePort, LOOPBACK } from "../fixtures/free-port";
import {
  catchAll,
  caughtError,
  expectNoMessage,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusCalls,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";
import { connectVisionClient, startArguments, type VisionClient } from "../fixtures/vision-client";

const AUTO = "VisionStateMachine.AutomaticModeStateMachine";
const MAIN = "VisionStateMachine";
const PATH = "/UA/TestStation";
/** Server start (nodesets, the first certificate) and a client round trip on a loaded machine. */
const SERVER_WAIT_MS = 30_000;
const EVENT_WAIT_MS = 10_000;
const QUIET_MS = 300;

// One RED._ serves every node of a flow: one translator over both catalogs.
const translate = catalogTranslator("vision-station", "threshold");
const station = withCatalog(stationNode, translate);
const threshold = withCatalog(thresholdNode, translate);

function flow(port: number): FlowItem[] {
  return onTab([
    {
      id: "station",
      type: "defect-vision-station",
      port: String(port),
      host: LOOPBACK,
      path: PATH,
      recipes: "part-A\npart-B",
      maxResults: "1000",
      wires: [["triggers"]],
    } as FlowItem<VisionStationNodeDef>,
    { id: "triggers", type: "helper" },
    { id: "judge", type: "defect-threshold", mode: "fixed", threshold: "0.5", wires: [["station", "verdicts"]] } as FlowItem<ThresholdNodeDef>,
    { id: "verdicts", type: "helper" },
    ...catchAll(),
  ]);
}

/** True when nothing listens on the port of 127.0.0.1. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve(true)));
  });
}

describe("defect-vision-station (OPC 40100 VisionSystem, real client)", function () {
  this.timeout(60_000);
  let userDir = "";
  let port = 0;
  let endpoint = "";
  let client: VisionClient;

  before(async function () {
    userDir = mkdtempSync(join(tmpdir(), "defect-station-"));
    helper.init(require.resolve("node-red"));
    // Not a literal in the call: the helper's settings type does not list Node-RED 4's telemetry.
    const settings = { userDir, telemetry: { enabled: false } };
    helper.settings(settings);
    await new Promise<void>((resolve) => helper.startServer(resolve));
    port = await freePort();
    endpoint = `opc.tcp://${LOOPBACK}:${port}${PATH}`;
    await helper.load([station, threshold], flow(port));
    await waitForStatus(getNode("station"), `preoperational · ${endpoint}`, SERVER_WAIT_MS);
    client = await connectVisionClient(endpoint);
  });

  after(async function () {
    await client?.close();
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(resolve));
    rmSync(userDir, { recursive: true, force: true });
  });

  it("publishes a VisionSystem with its state machine, automatic mode, recipe and result management, Preoperational", async function () {
    for (const part of ["", MAIN, AUTO, "RecipeManagement", "ResultManagement"]) await client.nodeOf(part);
    for (const method of ["SelectModeAutomatic", "Halt", "Reset"]) await client.nodeOf(`${MAIN}.${method}`);
    for (const method of ["StartSingleJob", "StartContinuous", "Stop", "Abort"]) await client.nodeOf(`${AUTO}.${method}`);
    for (const method of ["GetRecipeListFiltered", "PrepareRecipe", "UnprepareRecipe"]) await client.nodeOf(`RecipeManagement.${method}`);
    for (const method of ["GetResultById", "GetResultComponentsById", "GetResultListFiltered"]) await client.nodeOf(`ResultManagement.${method}`);
    assert.equal(await client.currentState(MAIN), "Preoperational");
    const look = statusCalls(getNode("station")).at(-1);
    assert.deepEqual(look, { fill: "yellow", shape: "ring", text: `preoperational · ${endpoint}` });
  });

  it("answers BadInvalidState to a job or recipe call before automatic mode, and sends nothing", async function () {
    const quiet = expectNoMessage(getNode("triggers"), QUIET_MS);
    assert.equal((await client.call(AUTO, "StartSingleJob", await startArguments(client, "p-1"))).status, "BadInvalidState");
    const prepare = await client.call("RecipeManagement", "PrepareRecipe", [
      await client.id("RecipeIdExternalDataType", "part-A"),
      await client.id("RecipeIdInternalDataType", ""),
    ]);
    assert.equal(prepare.status, "BadInvalidState");
    const cause = [
      { dataType: DataType.Int32, value: 0 },
      { dataType: DataType.String, value: "" },
    ];
    assert.equal((await client.call(MAIN, "Reset", cause)).status, "BadInvalidState", "Reset has no transition from Preoperational");
    await quiet;
    assert.equal(await client.currentState(MAIN), "Preoperational");
  });

  it("SelectModeAutomatic -> Initialized, where StartSingleJob is still BadInvalidState and an unknown recipe BadInvalidArgument", async function () {
    const selected = await client.call(MAIN, "SelectModeAutomatic");
    assert.equal(selected.status, "Good");
    assert.equal(selected.outputs[0]?.value, 0, "Error output 0");
    assert.equal(await client.currentState(MAIN), "Operational");
    assert.equal(await client.currentState(AUTO), "Initialized");
    assert.equal((await client.call(MAIN, "SelectModeAutomatic")).status, "BadInvalidState");
    assert.equal((await client.call(AUTO, "StartSingleJob", await startArguments(client, "p-1"))).status, "BadInvalidState");
    const unknown = await client.call("RecipeManagement", "PrepareRecipe", [
      await client.id("RecipeIdExternalDataType", "part-Z"),
      await client.id("RecipeIdInternalDataType", ""),
    ]);
    assert.equal(unknown.status, "BadInvalidArgument");
    assert.equal(await client.currentState(AUTO), "Initialized");
  });

  it("lists the editor's recipes and those seen on msg.recipe (GetRecipeListFiltered)", async function () {
    getNode("station").receive({ recipe: "part-C" } as NodeMessage);
    const list = async (externalId: string): Promise<string[]> => {
      const answer = await client.call("RecipeManagement", "GetRecipeListFiltered", [
        await client.id("RecipeIdExternalDataType", externalId),
        await client.id("ProductIdDataType", ""),
        { dataType: DataType.Int32, value: 2 },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.Int32, value: 1000 },
      ]);
      assert.equal(answer.status, "Good");
      assert.equal(answer.outputs[0]?.value, true, "IsComplete");
      return (answer.outputs[3]?.value as Array<{ id: string }>).map((recipe) => recipe.id);
    };
    assert.deepEqual(await list(""), ["part-A", "part-B", "part-C"]);
    assert.deepEqual(await list("part-B"), ["part-B"]);
  });

  let jobId = "";

  it("PrepareRecipe -> Ready; StartSingleJob -> SingleExecution and the node sends the trigger with job id, recipe and part id", async function () {
    const prepared = await client.call("RecipeManagement", "PrepareRecipe", [
      await client.id("RecipeIdExternalDataType", "part-A"),
      await client.id("RecipeIdInternalDataType", ""),
    ]);
    assert.equal(prepared.status, "Good");
    assert.equal((prepared.outputs[0]?.value as { id: string }).id, "part-A", "InternalIdOut");
    assert.equal(await client.currentState(AUTO), "Ready");

    const trigger = nextMessage(getNode("triggers"));
    const started = await client.call(AUTO, "StartSingleJob", await startArguments(client, "p-17"));
    assert.equal(started.status, "Good");
    jobId = (started.outputs[0]?.value as { id: string }).id;
    assert.match(jobId, /^[0-9a-z]+-\d+$/);
    const msg = await trigger;
    assert.equal(msg.topic, "StartSingleJob");
    assert.equal(msg["jobId"], jobId);
    assert.equal(msg["recipe"], "part-A");
    assert.equal(msg["partId"], "p-17");
    assert.equal(await client.currentState(AUTO), "SingleExecution");
    assert.equal((await client.call(AUTO, "StartSingleJob", await startArguments(client, "p-18"))).status, "BadInvalidState", "one job at a time");
  });

  let record: ResultRecord;

  it("publishes the threshold node's verdict as ResultReady with its record and result id, and is Ready again", async function () {
    const before = client.events.length;
    const verdict = nextMessage(getNode("verdicts"));
    // The trigger's job id and recipe travel with the part, as an image source passes them on.
    getNode("judge").receive({ payload: 0.93, jobId, recipe: "part-A", partId: "p-17" } as NodeMessage);
    record = (await verdict)["result"] as ResultRecord;
    await client.waitForEvents(before + 1, EVENT_WAIT_MS);
    const event = client.events[before]!;
    assert.equal(event.eventType, `ns=${client.namespace};i=1024`, "ResultReadyEventType");
    assert.equal(event.resultId, `judge/${record.id}`);
    assert.equal(event.jobId, jobId);
    assert.equal(event.partId, "p-17");
    assert.equal(event.resultState, 1, "completed");
    const content = JSON.parse(String(event.content[0])) as ResultRecord;
    assert.equal(content.verdict, "NG");
    assert.equal(content.score, 0.93);
    assert.equal(content.recipe, "part-A");
    assert.deepEqual(content, record);
    assert.equal(await client.currentState(AUTO), "Ready", "SingleExecution ends with its result");
  });

  it("GetResultById returns the result; an unknown id is BadNotFound", async function () {
    const found = await client.call("ResultManagement", "GetResultById", [
      await client.id("ResultIdDataType", `judge/${record.id}`),
      { dataType: DataType.Int32, value: 1000 },
    ]);
    assert.equal(found.status, "Good");
    const result = found.outputs[1]?.value as {
      resultId: { id: string };
      jobId: { id: string };
      partId: { id: string };
      resultState: number;
      resultContent: Array<{ value: string }>;
    };
    assert.equal(result.resultId.id, `judge/${record.id}`);
    assert.equal(result.jobId.id, jobId);
    assert.equal(result.partId.id, "p-17");
    assert.equal(result.resultState, 1);
    assert.deepEqual(JSON.parse(result.resultContent[0]!.value), record);
    const missing = await client.call("ResultManagement", "GetResultById", [
      await client.id("ResultIdDataType", "judge/999999"),
      { dataType: DataType.Int32, value: 1000 },
    ]);
    assert.equal(missing.status, "BadNotFound");
  });

  it("StartContinuous sends its trigger, keeps running through results, and Stop sends Stop and is Ready; Stop in Ready is BadInvalidState", async function () {
    const start = nextMessage(getNode("triggers"));
    const started = await client.call(AUTO, "StartContinuous", await startArguments(client, ""));
    assert.equal(started.status, "Good");
    const continuous = (started.outputs[0]?.value as { id: string }).id;
    const msg = await start;
    assert.equal(msg.topic, "StartContinuous");
    assert.equal(msg["jobId"], continuous);
    assert.equal(msg["partId"], undefined, "no part named");
    const before = client.events.length;
    getNode("judge").receive({ payload: 0.1, jobId: continuous, recipe: "part-A" } as NodeMessage);
    await client.waitForEvents(before + 1, EVENT_WAIT_MS);
    assert.equal(client.events[before]!.jobId, continuous);
    assert.equal(await client.currentState(AUTO), "ContinuousExecution");

    const stop = nextMessage(getNode("triggers"));
    assert.equal(
      (
        await client.call(AUTO, "Stop", [
          { dataType: DataType.Int32, value: 0 },
          { dataType: DataType.String, value: "" },
        ])
      ).status,
      "Good",
    );
    const stopped = await stop;
    assert.equal(stopped.topic, "Stop");
    assert.equal(stopped["jobId"], continuous);
    assert.equal(await client.currentState(AUTO), "Ready");
    const abort = await client.call(AUTO, "Abort", [
      { dataType: DataType.Int32, value: 0 },
      { dataType: DataType.String, value: "" },
    ]);
    assert.equal(abort.status, "BadInvalidState");
  });

  it("a message without msg.result reaches Catch with noResultInput and a red status", async function () {
    const caught = nextMessage(getNode("caught"));
    getNode("station").receive({ payload: { verdict: "OK" } } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "noResultInput");
    assert.match(error.message, /no msg\.result/);
    assert.equal(statusCalls(getNode("station")).at(-1)?.fill, "red");
  });

  it("Halt -> Halted (SelectModeAutomatic then BadInvalidState); Reset -> Preoperational", async function () {
    const cause = [
      { dataType: DataType.Int32, value: 0 },
      { dataType: DataType.String, value: "test" },
    ];
    assert.equal((await client.call(MAIN, "Halt", cause)).status, "Good");
    assert.equal(await client.currentState(MAIN), "Halted");
    assert.equal((await client.call(MAIN, "Halt", cause)).status, "BadInvalidState");
    assert.equal((await client.call(MAIN, "SelectModeAutomatic")).status, "BadInvalidState");
    assert.equal((await client.call(MAIN, "Reset", cause)).status, "Good");
    assert.equal(await client.currentState(MAIN), "Preoperational");
    await waitForStatus(getNode("station"), `preoperational · ${endpoint}`);
  });

  it("frees its port when the flow stops, and a redeploy serves on it again", async function () {
    await client.close();
    await helper.unload();
    assert.equal(await portIsFree(port), true, "nothing listens after close");
    await helper.load([station, threshold], flow(port));
    await waitForStatus(getNode("station"), `preoperational · ${endpoint}`, SERVER_WAIT_MS);
    client = await connectVisionClient(endpoint);
    assert.equal(await client.currentState(MAIN), "Preoperational");
  });

  it("keeps its certificate across a redeploy, and deleting the node frees the port and removes the certificate folder", async function () {
    const pki = join(userDir, "defect-detection", "station.opcua-pki");
    assert.ok(existsSync(pki), "the redeployed station kept its certificate folder");
    await client.close();
    // A deploy without the station: Node-RED closes it as removed.
    await helper.setFlows(onTab([{ id: "other", type: "helper" }]), "full");
    assert.equal(await portIsFree(port), true);
    assert.equal(existsSync(pki), false);
  });
});

describe("defect-vision-station deploy-time refusals", function () {
  useNodeRedHelper();

  for (const [option, value] of [
    ["port", "70000"],
    ["maxResults", "0"],
    ["path", "UA/no-slash"],
    ["host", "bad host"],
  ] as const) {
    it(`refuses ${option} "${value}" at deploy with a red status, starts no server, and every message reaches Catch with invalidOption`, async function () {
      await helper.load(station, onTab([{ id: "station", type: "defect-vision-station", [option]: value, wires: [[]] } as FlowItem, ...catchAll()]));
      const node = getNode("station");
      assert.deepEqual(statusTexts(node), ["defect-vision-station.status.error"]);
      assert.equal(statusCalls(node).at(-1)?.fill, "red");
      const caught = nextMessage(getNode("caught"));
      node.receive({ payload: "x" } as NodeMessage);
      const error = caughtError(await caught);
      assert.equal(error.code, "invalidOption");
      assert.ok(error.message.includes(`Invalid ${option}: `), error.message);
    });
  }

  it("on a port another program holds: a red status, and every message reaches Catch with serverFailed naming the port", async function () {
    const holder = createServer();
    const port = await new Promise<number>((resolve) => holder.listen(0, LOOPBACK, () => resolve((holder.address() as { port: number }).port)));
    try {
      await helper.load(
        station,
        onTab([{ id: "station", type: "defect-vision-station", port: String(port), host: LOOPBACK, wires: [[]] } as FlowItem, ...catchAll()]),
      );
      const node = getNode("station");
      await waitForStatus(node, "defect-vision-station.status.error", SERVER_WAIT_MS);
      assert.equal(statusCalls(node).at(-1)?.fill, "red");
      const caught = nextMessage(getNode("caught"));
      node.receive({ payload: "x" } as NodeMessage);
      const error = caughtError(await caught);
      assert.equal(error.code, "serverFailed");
      assert.ok(error.message.includes(`could not start on port ${port}`), error.message);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("without node-opcua installed: a red status naming the command, an error naming the package, Catch for every message", async function () {
    // Node's resolver, made to fail for node-opcua alone as it does where the package is not installed.
    const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
    const resolve = resolver._resolveFilename;
    resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
      if (request === "node-opcua") throw Object.assign(new Error("Cannot find module 'node-opcua'"), { code: "MODULE_NOT_FOUND" });
      return resolve.call(this, request, ...rest);
    };
    try {
      await helper.load(station, onTab([{ id: "station", type: "defect-vision-station", port: "0", wires: [[]] } as FlowItem, ...catchAll()]));
    } finally {
      resolver._resolveFilename = resolve;
    }
    const node = getNode("station");
    assert.deepEqual(statusCalls(node).at(-1), { fill: "red", shape: "ring", text: "npm install node-opcua" });
    const caught = nextMessage(getNode("caught"));
    node.receive({ payload: "x" } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "dependencyMissing");
    assert.match(error.message, /needs the package node-opcua: run "npm install node-opcua" in the Node-RED user directory/);
  });
});
