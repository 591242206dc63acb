/**
 * The vision station without OPC UA: OPC 40100's state machine as the nodeset's transitions allow
 * it (every method from every state), the job commands the flow gets, the bounded result store and
 * its filters, the recipes, the editor options, msg.result as the station reads it, and what the
 * node says when node-opcua is not installed.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import { readResultRecord, type ResultRecord } from "../../src/lib/message";
import {
  createResultStore,
  createStation,
  machine,
  parseStationOptions,
  visionResult,
  type JobTrigger,
  type MachineState,
  type MethodStatus,
  type StoredResult,
} from "../../src/lib/station";
import { loadNodeOpcua } from "../../src/lib/station/opcua/load";

function record(id: number, fields: Partial<ResultRecord> = {}): ResultRecord {
  return {
    id,
    station: "thr",
    partId: `p-${id}`,
    jobId: null,
    recipe: "A",
    created: "2026-01-02T03:04:05.000Z",
    verdict: "OK",
    score: 0.1,
    times: { sourceMs: 2, preprocessMs: 3, detectorMs: 10, thresholdMs: 1, regionsMs: null },
    model: { method: "patchcore", created: null, version: null, file: null },
    calibration: { mode: "fixed", created: null, threshold: 0.5, lowThreshold: null },
    regions: null,
    ...fields,
  };
}

const STATES: Record<string, MachineState> = {
  Preoperational: machine.initialMachine(),
  Halted: { state: "Halted", automatic: null, recipe: null, job: null },
  Error: { state: "Error", automatic: null, recipe: null, job: null },
  Initialized: { state: "Operational", automatic: "Initialized", recipe: null, job: null },
  Ready: { state: "Operational", automatic: "Ready", recipe: "A", job: null },
  SingleExecution: { state: "Operational", automatic: "SingleExecution", recipe: "A", job: "j1" },
  ContinuousExecution: { state: "Operational", automatic: "ContinuousExecution", recipe: "A", job: "j1" },
};

const nameOf = (m: MachineState): string => m.automatic ?? m.state;

describe("vision station state machine (OPC 40100 transitions)", function () {
  // Each method from each state: the state it leads to, or its Bad status.
  const METHODS: Record<string, (m: MachineState) => machine.Step> = {
    SelectModeAutomatic: machine.selectModeAutomatic,
    Halt: machine.halt,
    Reset: machine.reset,
    PrepareRecipe: (m) => machine.prepareRecipe(m, "B"),
    UnprepareRecipe: (m) => machine.unprepareRecipe(m, "A"),
    StartSingleJob: (m) => machine.startSingleJob(m, "j2", null),
    StartContinuous: (m) => machine.startContinuous(m, "j2", null),
    Stop: machine.stopJob,
  };
  const EXPECTED: Record<string, Record<string, string>> = {
    SelectModeAutomatic: { Preoperational: "Initialized" },
    Halt: { Preoperational: "Halted", Error: "Halted", Initialized: "Halted", Ready: "Halted", SingleExecution: "Halted", ContinuousExecution: "Halted" },
    Reset: {
      Halted: "Preoperational",
      Error: "Preoperational",
      Initialized: "Preoperational",
      Ready: "Preoperational",
      SingleExecution: "Preoperational",
      ContinuousExecution: "Preoperational",
    },
    PrepareRecipe: { Initialized: "Ready", Ready: "Ready" },
    UnprepareRecipe: { Ready: "Initialized" },
    StartSingleJob: { Ready: "SingleExecution" },
    StartContinuous: { Ready: "ContinuousExecution" },
    Stop: { SingleExecution: "Ready", ContinuousExecution: "Ready" },
  };
  for (const [method, call] of Object.entries(METHODS)) {
    it(`${method}: Good only where the nodeset has a transition, BadInvalidState elsewhere`, function () {
      for (const [from, state] of Object.entries(STATES)) {
        const step = call(state);
        const to = EXPECTED[method]![from];
        if (to === undefined) assert.equal(step.status, "BadInvalidState", `${method} from ${from}`);
        else assert.equal(step.next === undefined ? step.status : nameOf(step.next), to, `${method} from ${from}`);
      }
    });
  }

  it("prepares one recipe at a time, unprepares only the prepared one, and starts a job only for it", function () {
    const ready = machine.prepareRecipe(STATES["Initialized"]!, "A").next!;
    assert.equal(ready.recipe, "A");
    assert.equal(machine.prepareRecipe(ready, "B").next?.recipe, "B");
    assert.equal(machine.unprepareRecipe(ready, "B").status, "BadInvalidArgument");
    assert.equal(machine.startSingleJob(ready, "j", "B").status, "BadInvalidArgument");
    assert.equal(machine.startSingleJob(ready, "j", "A").next?.job, "j");
  });

  it("a result ends a single job only; an error leaves Operational for Error", function () {
    assert.equal(nameOf(machine.resultArrived(STATES["SingleExecution"]!)), "Ready");
    assert.equal(nameOf(machine.resultArrived(STATES["ContinuousExecution"]!)), "ContinuousExecution");
    assert.equal(nameOf(machine.resultArrived(STATES["Ready"]!)), "Ready");
    assert.equal(nameOf(machine.failed(STATES["ContinuousExecution"]!)), "Error");
    assert.equal(nameOf(machine.failed(STATES["Halted"]!)), "Halted");
  });
});

describe("vision station core", function () {
  function station(recipes = ["A", "B"], maxResults = 3) {
    const jobs: JobTrigger[] = [];
    const results: StoredResult[] = [];
    const states: string[] = [];
    const core = createStation(
      { recipes, maxResults },
      { stateChanged: (s) => states.push(nameOf(s)), job: (j) => jobs.push(j), result: (r) => results.push(r) },
      () => 36 ** 3,
    );
    return { core, jobs, results, states };
  }

  it("sends each job command with its job id and recipe; refused calls send nothing and use no job number", function () {
    const { core, jobs, states } = station();
    assert.equal(core.startSingleJob({ recipe: "", partId: "" }).status, "BadInvalidState");
    const calls: MethodStatus[] = [core.selectModeAutomatic(), core.prepareRecipe("A")];
    const single = core.startSingleJob({ recipe: "", partId: "p1" });
    calls.push(single.status, core.abort());
    const continuous = core.startContinuous({ recipe: "A", partId: "" });
    calls.push(continuous.status, core.stop());
    assert.deepEqual(calls, ["Good", "Good", "Good", "Good", "Good", "Good"]);
    assert.deepEqual(jobs, [
      { command: "StartSingleJob", jobId: "1000-1", recipe: "A", partId: "p1" },
      { command: "Abort", jobId: "1000-1", recipe: "A", partId: null },
      { command: "StartContinuous", jobId: "1000-2", recipe: "A", partId: null },
      { command: "Stop", jobId: "1000-2", recipe: "A", partId: null },
    ]);
    assert.deepEqual(states, ["Initialized", "Ready", "SingleExecution", "Ready", "ContinuousExecution", "Ready"]);
  });

  it("refuses a recipe it does not know, learns recipes from messages and results", function () {
    const { core } = station();
    core.selectModeAutomatic();
    assert.equal(core.prepareRecipe("C"), "BadInvalidArgument");
    core.seeRecipe("C");
    core.addResult(record(1, { recipe: "D" }));
    assert.deepEqual(core.recipes.list(), ["A", "B", "C", "D"]);
    assert.equal(core.prepareRecipe("D"), "Good");
    const page = core.listRecipes({ externalId: "", productId: "", prepared: true, maxResults: 0, startIndex: 0 });
    assert.deepEqual(page.items, ["D"]);
  });

  it("aborts the running job when halted, reset or failed", function () {
    for (const stop of ["halt", "reset", "fail"] as const) {
      const { core, jobs } = station();
      core.selectModeAutomatic();
      core.prepareRecipe("A");
      core.startContinuous({ recipe: "", partId: "" });
      core[stop]();
      assert.deepEqual(jobs.at(-1), { command: "Abort", jobId: "1000-1", recipe: "A", partId: null }, stop);
      assert.equal(core.state.job, null);
    }
  });

  it("files results under <station>/<id> with the job they belong to, keeps the last N, and ends a single job", function () {
    const { core, results } = station(["A"], 3);
    core.selectModeAutomatic();
    core.prepareRecipe("A");
    const { jobId } = core.startSingleJob({ recipe: "", partId: "" });
    core.addResult(record(1));
    assert.equal(core.state.automatic, "Ready");
    assert.equal(results[0]?.resultId, "thr/1");
    assert.equal(results[0]?.jobId, jobId, "no jobId in the record: the running job's");
    for (const id of [2, 3, 4]) core.addResult(record(id, { jobId: "other", partId: id === 4 ? "x" : `p-${id}` }));
    assert.equal(core.findResult("thr/1"), undefined, "the oldest went");
    assert.equal(core.findResult("thr/4")?.record.partId, "x");
    const all = core.listResults({ resultState: 0, partId: "", recipe: "", jobId: "", maxResults: 0, startIndex: 0 });
    assert.deepEqual(
      all.items.map((r) => r.resultId),
      ["thr/2", "thr/3", "thr/4"],
    );
    const paged = core.listResults({ resultState: 1, partId: "", recipe: "A", jobId: "other", maxResults: 1, startIndex: 1 });
    assert.deepEqual(paged, { items: [core.findResult("thr/3")], total: 3, complete: false });
    assert.equal(core.listResults({ resultState: 3, partId: "", recipe: "", jobId: "", maxResults: 0, startIndex: 0 }).total, 0, "none aborted");
    assert.equal(core.listResults({ resultState: 0, partId: "x", recipe: "", jobId: "", maxResults: 0, startIndex: 0 }).total, 1);
  });

  it("a store never holds more than its capacity", function () {
    const store = createResultStore(2);
    for (let id = 1; id <= 50; id++) store.add({ resultId: `s/${id}`, jobId: "", record: record(id) });
    assert.equal(store.size, 2);
  });

  it("publishes the record as OPC 40100 result fields: processing from the stage times, content as JSON", function () {
    const result = visionResult({ resultId: "thr/7", jobId: "j", record: record(7) });
    assert.equal(result.creationTime.toISOString(), "2026-01-02T03:04:05.000Z");
    assert.equal(result.processingTimes.processingDuration, 16);
    assert.equal(result.processingTimes.startTime.toISOString(), "2026-01-02T03:04:04.984Z");
    assert.deepEqual(JSON.parse(result.content), record(7));
  });
});

describe("vision station options and inputs", function () {
  it("takes the defaults and reads the recipe list", function () {
    assert.deepEqual(parseStationOptions({}), { port: 4840, host: "", path: "/UA/DefectVisionStation", recipes: [], maxResults: 1000 });
    assert.deepEqual(parseStationOptions({ recipes: " A \nB, C\n\nA" }).recipes, ["A", "B", "C"]);
  });

  for (const [option, value] of [
    ["port", "-1"],
    ["port", "65536"],
    ["port", "1.5"],
    ["maxResults", "0"],
    ["maxResults", "100001"],
    ["path", "UA"],
    ["path", "/UA/a b"],
    ["host", "a b"],
    ["recipes", "x".repeat(65)],
  ] as const) {
    it(`refuses ${option} ${JSON.stringify(value).slice(0, 20)} with invalidOption naming it`, function () {
      assert.throws(
        () => parseStationOptions({ [option]: value }),
        (e: unknown) => e instanceof DefectError && e.code === "invalidOption" && e.details["option"] === option,
      );
    });
  }

  it("reads msg.result as a deep copy, null when absent, and refuses what the threshold node does not write", function () {
    const msg = { result: record(3) };
    const read = readResultRecord(msg);
    assert.deepEqual(read, record(3));
    msg.result.partId = "changed";
    assert.equal(read?.partId, "p-3", "a copy");
    assert.equal(readResultRecord({}), null);
    for (const [field, bad] of [
      ["", "text"],
      ["id", 0],
      ["id", 1.5],
      ["station", ""],
      ["created", "yesterday"],
      ["verdict", "MAYBE"],
      ["score", Number.NaN],
      ["jobId", 42],
    ] as const) {
      const result = field === "" ? bad : { ...record(1), [field]: bad };
      assert.throws(
        () => readResultRecord({ result }),
        (e: unknown) => e instanceof DefectError && e.code === "invalidOption" && e.details["option"] === `msg.result.${field}`,
        field,
      );
    }
  });

  it("names the package to install when node-opcua is missing, and passes other load failures on", function () {
    const missing = Object.assign(new Error("Cannot find module 'node-opcua'\nRequire stack: ..."), { code: "MODULE_NOT_FOUND" });
    assert.throws(
      () =>
        loadNodeOpcua(() => {
          throw missing;
        }),
      (e: unknown) => e instanceof DefectError && e.code === "dependencyMissing" && /npm install node-opcua/.test(e.message),
    );
    const broken = Object.assign(new Error("Cannot find module 'node-opcua-address-space'"), { code: "MODULE_NOT_FOUND" });
    assert.throws(
      () =>
        loadNodeOpcua(() => {
          throw broken;
        }),
      (e: unknown) => e === broken,
    );
    const loaded = loadNodeOpcua();
    assert.equal(typeof loaded.OPCUAServer, "function", "the installed package loads");
  });
});
