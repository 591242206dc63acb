/**
 * msg.result as a line sees it: synthetic parts go through image source, preprocess, PatchCore
 * (tiny fixture backbone), a calibrated threshold and mask-to-region, and every verdict message
 * carries its record: increasing ids, the part and job ids, a time for each stage, the model and
 * calibration that decided it (and new ones once the detector learns a confirmed part, fits again
 * or the threshold calibrates again), the verdict, score and regions of the message itself. A
 * wire straight from the threshold node shows the record without mask-to-region. Then the
 * numbering alone, on threshold nodes fed scores: across redeploys, per station, on bad input and
 * with a damaged or unwritable counter file.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import type { ResultRecord } from "../../src/lib/message";
import { resultIdsPath } from "../../src/lib/result";
import { generateDefect, generateGood, type DefectKind } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import preprocessNode from "../../src/nodes/preprocess";
import type { PreprocessNodeDef } from "../../src/nodes/preprocess-def";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  expectNoMessage,
  getNode,
  helper,
  loadCoreNode,
  nextMessage,
  onTab,
  useNodeRedHelper,
  type FlowItem,
} from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
const TRAIN = 4;
const CALIBRATION = 4;
/** Far above the good parts' spread, far below a defect's score (pipeline_spec.ts explains the numbers). */
const SIGMA_K = 6;
const FIT_WAIT_MS = 20_000;
const PART_WAIT_MS = 10_000;
const QUIET_MS = 300;
const STAGES = ["sourceMs", "preprocessMs", "detectorMs", "thresholdMs", "regionsMs"] as const;

interface Model {
  created: string;
  version: number;
}

/** What a learning answer says of the model it fitted. */
interface Fitted {
  created: string;
}

interface Calibration {
  created: string;
  threshold: number;
}

interface Decided {
  verdict: string;
  score: number;
  threshold: number;
  regionCount?: number;
}

const good = async (seed: number): Promise<Buffer> => encodePng(generateGood(KIND, seed, SOURCE_SIZE));
const defect = async (kind: DefectKind, seed: number): Promise<Buffer> => encodePng(generateDefect(KIND, kind, seed, SOURCE_SIZE).image);

describe("msg.result on every verdict", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let switchNode: NodeInitializer;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-result-"));
    backbone = await writeTinyBackbone(dir);
    switchNode = await loadCoreNode("function/10-switch.js");
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  describe("through the whole line", function () {
    function line(): FlowItem[] {
      return onTab([
        { id: "src", type: "defect-image-source", mode: "payload", wires: [["pre"]] } as FlowItem<ImageSourceNodeDef>,
        {
          id: "pre",
          type: "defect-preprocess",
          preset: "imagenet",
          width: String(TENSOR_SIZE),
          height: String(TENSOR_SIZE),
          wires: [["det"]],
        } as FlowItem<PreprocessNodeDef>,
        {
          id: "det",
          type: "defect-detector",
          method: "patchcore",
          backbone,
          layers: "l1,l2",
          trainCount: String(TRAIN),
          augment: "off",
          mapSize: "original",
          wires: [["confirmation"]],
        } as FlowItem<DetectorNodeDef>,
        // As in example 06: the detector's answers to confirmations are no part to judge.
        {
          id: "confirmation",
          type: "switch",
          property: "payload",
          propertyType: "msg",
          rules: [{ t: "hask", v: "confirmed", vt: "str" }, { t: "else" }],
          checkall: "false",
          outputs: 2,
          wires: [["confirmed"], ["thr"]],
        } as FlowItem,
        {
          id: "thr",
          type: "defect-threshold",
          mode: "sigma",
          k: String(SIGMA_K),
          calibrationCount: String(CALIBRATION),
          wires: [["regions", "decided"]],
        } as FlowItem<ThresholdNodeDef>,
        { id: "regions", type: "defect-mask-to-region", minArea: "10", overlay: "none", wires: [["out"]] } as FlowItem<MaskToRegionNodeDef>,
        { id: "out", type: "helper" },
        { id: "decided", type: "helper" },
        { id: "confirmed", type: "helper" },
        ...catchAll(),
      ]);
    }

    /** One message at a time (PatchCore learns in arrival order); resolves with what reached the end of the line. */
    async function send(msg: Record<string, unknown>, end = "out", wait = FIT_WAIT_MS): Promise<NodeMessage> {
      const answer = nextMessage(getNode(end), wait);
      getNode("src").receive(msg as NodeMessage);
      return answer;
    }

    /** An inspection: the message after mask-to-region, and the one the threshold node sent without it. */
    async function inspect(msg: Record<string, unknown>): Promise<{ full: NodeMessage; decided: NodeMessage }> {
      const decided = nextMessage(getNode("decided"), PART_WAIT_MS);
      const full = await send(msg, "out", PART_WAIT_MS);
      return { full, decided: await decided };
    }

    async function learn(seeds: number[]): Promise<Fitted> {
      let answer: NodeMessage | undefined;
      for (const seed of seeds) answer = await send({ payload: await good(seed), learn: true });
      return (answer?.payload as { model: Fitted }).model;
    }

    async function calibrate(seeds: number[]): Promise<Calibration> {
      let answer: NodeMessage | undefined;
      for (const seed of seeds) answer = await send({ payload: await good(seed), calibrate: true });
      return (answer?.payload as { calibration: Calibration }).calibration;
    }

    /** What every record must say about the message it travels on. */
    function checkRecord(
      msg: NodeMessage,
      expected: { partId: string | null; jobId: string | null; model: Model; calibration: Calibration },
      from: number,
    ): ResultRecord {
      const record = msg["result"] as ResultRecord;
      const payload = msg.payload as Decided;
      const detection = msg["detection"] as { score: number; model: Model };
      const timings = msg["timings"] as Record<string, number>;
      const context = JSON.stringify(record);
      assert.equal(record.station, "thr", context);
      assert.deepEqual([record.partId, record.jobId, record.recipe], [expected.partId, expected.jobId, null], context);
      assert.match(record.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Date.parse(record.created) >= from && Date.parse(record.created) <= Date.now(), context);
      assert.deepEqual([record.verdict, record.score], [payload.verdict, payload.score], "the verdict and score of msg.payload");
      assert.equal(record.score, detection.score);
      assert.deepEqual(record.model, { method: "patchcore", created: expected.model.created, version: expected.model.version, file: null }, context);
      assert.deepEqual(record.model, { method: "patchcore", created: detection.model.created, version: detection.model.version, file: null });
      assert.deepEqual(record.calibration, { mode: "sigma", created: expected.calibration.created, threshold: payload.threshold, lowThreshold: null }, context);
      assert.equal(payload.threshold, expected.calibration.threshold);
      for (const stage of STAGES) {
        if (stage === "regionsMs" && timings[stage] === undefined) continue;
        assert.equal(record.times[stage], timings[stage], `${stage}: ${context}`);
        assert.ok(typeof record.times[stage] === "number" && record.times[stage] >= 0, `${stage}: ${context}`);
      }
      return record;
    }

    it("numbers each verdict and records the part, the stage times, the model and calibration that decided it, and its regions", async function () {
      await helper.load(
        [imageSourceNode, preprocessNode, withCatalog(detectorNode, catalogTranslator("detector")), switchNode, thresholdNode, maskToRegionNode],
        line(),
      );
      const errors: unknown[] = [];
      getNode("caught").on("input", (msg: NodeMessage) => errors.push(msg["error"]));

      const fitted = await learn([1, 2, 3, 4]);
      const calibrated = await calibrate([20, 21, 22, 23]);
      const ids: number[] = [];
      const from = Date.now();
      // A fit is the model's first version; its created time names it.
      let expected = { model: { created: fitted.created, version: 1 }, calibration: calibrated };

      const parts: Array<{ msg: Record<string, unknown>; partId: string | null; jobId: string | null; ng: boolean }> = [
        { msg: { payload: await good(100), partId: "P-100", jobId: "job-7" }, partId: "P-100", jobId: "job-7", ng: false },
        // A PLC's serial number: the record files it as text.
        { msg: { payload: await defect("hole", 200), partId: 200200, jobId: 7 }, partId: "200200", jobId: "7", ng: true },
        { msg: { payload: await defect("scratch", 202) }, partId: null, jobId: null, ng: true },
      ];
      for (const part of parts) {
        const { full, decided } = await inspect(part.msg);
        const record = checkRecord(full, { ...part, ...expected }, from);
        assert.equal(record.verdict, part.ng ? "NG" : "OK", JSON.stringify(record));
        assert.deepEqual(record.regions, full["regions"], "the regions of msg.regions");
        assert.equal(record.regions?.length, (full.payload as Decided).regionCount);
        if (part.ng) assert.ok((record.regions?.length ?? 0) >= 1, JSON.stringify(record));
        // Without mask-to-region: the same record, regions not known yet.
        const early = checkRecord(decided, { ...part, ...expected }, from);
        assert.deepEqual({ ...early, regions: record.regions, times: { ...early.times, regionsMs: record.times.regionsMs } }, record);
        assert.deepEqual([early.regions, early.times.regionsMs, (decided["timings"] as Record<string, number>)["regionsMs"]], [null, null, undefined]);
        ids.push(record.id);
      }

      // The operator confirms the first part good: the detector saves version 2 of its model.
      const confirmed = nextMessage(getNode("confirmed"), FIT_WAIT_MS);
      getNode("det").receive({ confirm: "good", partId: "P-100" } as NodeMessage);
      assert.equal(((await confirmed).payload as { version: number }).version, 2);
      expected = { ...expected, model: { created: fitted.created, version: 2 } };
      ids.push(checkRecord((await inspect({ payload: await good(101), partId: "P-101" })).full, { partId: "P-101", jobId: null, ...expected }, from).id);

      // A new calibration, then a new fit: each names itself in the records after it.
      const recalibrated = await calibrate([24, 25, 26, 27]);
      assert.notEqual(recalibrated.created, calibrated.created);
      expected = { ...expected, calibration: recalibrated };
      ids.push(checkRecord((await inspect({ payload: await good(102), partId: "P-102" })).full, { partId: "P-102", jobId: null, ...expected }, from).id);
      const refitted = await learn([5, 6, 7, 8]);
      assert.notEqual(refitted.created, fitted.created);
      expected = { ...expected, model: { created: refitted.created, version: 1 } };
      ids.push(checkRecord((await inspect({ payload: await good(103), partId: "P-103" })).full, { partId: "P-103", jobId: null, ...expected }, from).id);

      assert.deepEqual(ids, [1, 2, 3, 4, 5, 6], "numbered in order, learning and calibration messages get no number");
      assert.deepEqual(errors, [], "no node failed");
    });

    it("files a result under the part id the detector read from its Part id in property", async function () {
      const flow = line().map((item) => (item.id === "det" ? { ...item, partIdProperty: "plc.serial" } : item));
      await helper.load([imageSourceNode, preprocessNode, detectorNode, switchNode, thresholdNode, maskToRegionNode], flow);
      await learn([1, 2, 3, 4]);
      const { full } = await inspect({ payload: await good(100), plc: { serial: 4711 }, partId: "not this one" });
      assert.equal((full["result"] as ResultRecord).partId, "4711");
      assert.equal((full["detection"] as { partId: string }).partId, "4711", "handed over in the detector's msg.payload.partId");
    });
  });

  describe("numbering at the threshold node", function () {
    const threshold = withCatalog(thresholdNode, catalogTranslator("threshold"));
    const judge = (id: string, wires: string[] = ["out"]): FlowItem<ThresholdNodeDef> =>
      ({ id, type: "defect-threshold", mode: "fixed", threshold: "0.5", wires: [wires] }) as FlowItem<ThresholdNodeDef>;

    async function scores(node: string, values: number[], out = "out"): Promise<ResultRecord[]> {
      const records: ResultRecord[] = [];
      for (const value of values) {
        const answer = nextMessage(getNode(out));
        getNode(node).receive({ payload: value, partId: `s-${value}` } as NodeMessage);
        records.push((await answer)["result"] as ResultRecord);
      }
      return records;
    }

    it("keeps counting up across redeploys, per station; a fixed threshold has no calibration time and no model", async function () {
      const flow = onTab([judge("line-a"), judge("line-b", ["out-b"]), { id: "out", type: "helper" }, { id: "out-b", type: "helper" }]);
      await helper.load(threshold, flow);
      const first = await scores("line-a", [0.2, 0.7, 0.3]);
      assert.deepEqual(
        first.map((r) => [r.id, r.verdict, r.partId]),
        [
          [1, "OK", "s-0.2"],
          [2, "NG", "s-0.7"],
          [3, "OK", "s-0.3"],
        ],
      );
      assert.deepEqual(first[0]!.model, { method: null, created: null, version: null, file: null }, "a bare score names no model");
      assert.deepEqual(first[0]!.calibration, { mode: "fixed", created: null, threshold: 0.5, lowThreshold: null });
      assert.deepEqual(first[0]!.times, { sourceMs: null, preprocessMs: null, detectorMs: null, thresholdMs: first[0]!.times.thresholdMs, regionsMs: null });
      assert.deepEqual(
        (await scores("line-b", [0.9], "out-b")).map((r) => [r.station, r.id]),
        [["line-b", 1]],
        "another threshold node is another station",
      );

      // Redeployed (the nodes are closed and created again, as after a restart): only the counter file remains.
      await helper.unload();
      await helper.load(threshold, flow);
      const second = await scores("line-a", [0.4, 0.8]);
      assert.ok(second[0]!.id > 3 && second[1]!.id === second[0]!.id + 1, JSON.stringify(second.map((r) => r.id)));
      const saved = JSON.parse(await readFile(resultIdsPath(userDir(), "line-a"), "utf8")) as { next: number };
      assert.ok(saved.next > second[1]!.id, `the counter file (${saved.next}) is ahead of the last id`);
    });

    it("refuses a part, job or recipe id that is neither text nor a number through Catch, and gives that message no number", async function () {
      await helper.load(threshold, onTab([judge("strict"), { id: "out", type: "helper" }, ...catchAll()]));
      const quiet = expectNoMessage(getNode("out"), QUIET_MS);
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ partId: { serial: 7 } }, 'Invalid msg.partId: {"serial":7}'],
        [{ jobId: true }, "Invalid msg.jobId: true"],
        [{ recipe: ["housing"] }, 'Invalid msg.recipe: ["housing"]'],
      ];
      for (const [fields, text] of bad) {
        const caught = nextMessage(getNode("caught"));
        getNode("strict").receive({ payload: 0.9, ...fields } as NodeMessage);
        const error = caughtError(await caught);
        assert.deepEqual([error.code, error.message], ["invalidOption", `Error: ${text}`]);
      }
      await quiet;
      assert.deepEqual(
        (await scores("strict", [0.9])).map((r) => [r.id, r.partId]),
        [[1, "s-0.9"]],
      );
    });

    it("refuses every verdict while the counter file is damaged, saying which file and what is wrong", async function () {
      const path = resultIdsPath(userDir(), "damaged");
      await mkdir(join(userDir(), "defect-detection"), { recursive: true });
      await writeFile(path, "{ half a file");
      try {
        await helper.load(threshold, onTab([judge("damaged"), { id: "out", type: "helper" }, ...catchAll()]));
        const caught = collectMessages(getNode("caught"), 2);
        getNode("damaged").receive({ payload: 0.1 } as NodeMessage);
        getNode("damaged").receive({ payload: 0.9 } as NodeMessage);
        for (const msg of await caught) {
          const error = caughtError(msg);
          assert.equal(error.code, "resultIdsFailed");
          assert.match(
            error.message,
            /^Error: Result ids: .*damaged\.results\.json: the file is not JSON .*; no result id is given out until it is repaired, or deleted/,
          );
        }
        assert.equal(await readFile(path, "utf8"), "{ half a file", "the file is kept");
      } finally {
        await rm(path, { force: true });
      }
    });

    it("numbers on and tells Catch when the counter cannot be saved, the verdict still sent", async function () {
      const folder = join(userDir(), "defect-detection");
      await rm(folder, { recursive: true, force: true });
      // A file where the folder should be: no write can succeed.
      await writeFile(folder, "not a folder");
      try {
        await helper.load(threshold, onTab([judge("thr"), { id: "out", type: "helper" }, ...catchAll()]));
        const caught = nextMessage(getNode("caught"));
        const [record] = await scores("thr", [0.9]);
        assert.deepEqual([record!.id, record!.verdict], [1, "NG"]);
        const error = caughtError(await caught);
        assert.equal(error.code, "resultIdsFailed");
        assert.match(
          error.message,
          /^Error: Result ids: the next result ids could not be saved to .*thr\.results\.json .*: they are given out anyway, and a restart may give them out again$/,
        );
      } finally {
        await rm(folder, { force: true });
      }
    });
  });
});
