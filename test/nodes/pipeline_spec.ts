/**
 * The whole package in one Node-RED flow, as a line runs it: encoded PNGs of synthetic parts go
 * into image source, are preprocessed, learned and scored by PatchCore (on the tiny fixture
 * backbone), judged by a threshold calibrated from good parts, turned into regions, and the
 * alarm node's PLC writes go through node-red-contrib-modbus Flex-Write to a real Modbus TCP
 * server on 127.0.0.1, from which every result is read back.
 *
 * Why these parts: on 96 px cast-surface parts (64 px tensors) the tiny backbone learned from
 * seeds 1-6 scores the good parts 0.057-0.067 and the holes, cracks, scratch and spot
 * 0.24-0.33 (in a library run holes, spots, scratches and cracks on this texture scored
 * 0.11-0.40 over seeds 200-207), so the calibrated threshold (0.086) has room on both sides. A broken link anywhere
 * (a lost transform, a mirrored map, a mask at the wrong threshold, a swapped or unscaled
 * register) changes a verdict, a region or a register.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import sharp from "sharp";
import type { Rect } from "../../src/lib/image/types";
import { generateDefect, generateGood, type DefectKind } from "../../src/offline/synth";
import alarmNode from "../../src/nodes/alarm";
import type { AlarmNodeDef } from "../../src/nodes/alarm-def";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import preprocessNode from "../../src/nodes/preprocess";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import type { PreprocessNodeDef } from "../../src/nodes/preprocess-def";
import { encodePng } from "../fixtures/images";
import { startModbusPeer, type ModbusPeer } from "../fixtures/modbus-peer";
import { catchAll, collectMessages, getNode, helper, nextMessage, onTab, type FlowItem } from "../fixtures/node-red";
import { boxesOverlap, maskBox, nearBox } from "../fixtures/box-geometry";
import { loadModbusNodes, modbusFlexWrite, usePlcNodeRedHelper, waitForModbusActive } from "../fixtures/plc-nodes";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
/** Seed ranges kept apart, so no part is learned, calibrated on and inspected twice. */
const TRAIN_SEEDS = [1, 2, 3, 4, 5, 6];
const CALIBRATION_SEEDS = [20, 21, 22, 23, 24, 25, 26, 27];
const GOOD_SEEDS = [100, 101, 102, 103, 104, 105];
const DEFECTS: ReadonlyArray<{ defect: DefectKind; seed: number }> = [
  { defect: "hole", seed: 200 },
  { defect: "crack", seed: 201 },
  { defect: "scratch", seed: 202 },
  { defect: "spot", seed: 204 },
  { defect: "hole", seed: 203 },
  { defect: "crack", seed: 205 },
];
/**
 * Eight calibration samples leave the standard deviation itself uncertain: k = 6 puts the
 * threshold near 0.086, above every good part here (at most 0.067) and far below the weakest
 * defect (0.24), so a small numeric change in onnxruntime cannot flip a verdict.
 */
const SIGMA_K = 6;
/** Smaller specks of map above the threshold would be noise, not defects. */
const MIN_AREA = 10;
/**
 * One cell of the backbone's finest feature grid (4 tensor pixels = 6 original pixels): the map
 * is that coarse before it is smoothed and scaled, so a centroid may sit that far off the mask.
 */
const FEATURE_CELL = (4 * SOURCE_SIZE) / TENSOR_SIZE;

const COILS = { ready: 0, resultReady: 1, ok: 2, ng: 3, error: 4, alarm: 5 };
const REGISTERS = 100;
/** Status word, score, region count, sequence, result id (high word, low word). */
const BLOCK_SIZE = 6;
const SCORE_SCALE = 1000;
/** Status word bits of the contract. */
const OK_BIT = 0b1;
const NG_BIT = 0b10;
const ALARM_BIT = 0b10000;
/** OK, NG, Error, Alarm, the register block, Result ready, Ready: the verdict handshake. */
const WRITES_PER_PART = 7;

/** Learning fits a bank of a few hundred patches in well under a second; loaded machines get room. */
const FIT_WAIT_MS = 20_000;
const PART_WAIT_MS = 10_000;

interface Part {
  name: string;
  png: Buffer;
  /** Bounding box of the ground-truth mask in original pixels; null for a good part. */
  truth: Rect | null;
}

interface Judged {
  verdict: string;
  score: number;
  threshold: number;
  mode: string;
  regionCount: number;
}

interface Region extends Rect {
  area: number;
  centroid: { x: number; y: number };
  maxScore: number;
  meanScore: number;
}

interface Learned {
  count: number;
  model?: { trainedOn: number };
}

interface Calibrating {
  calibration?: Calibration;
}

interface Calibration {
  mode: string;
  threshold: number;
  samples: { good: number; defect: number };
  stats: { falseRejects: number; good: { count: number; mean: number; sd: number } };
}

interface AlarmEvent {
  event: string;
  evidence: { partId: string; resultId: number; verdict: string };
}

async function goodPart(seed: number): Promise<Part> {
  return { name: `good-${seed}`, png: await encodePng(generateGood(KIND, seed, SOURCE_SIZE)), truth: null };
}

async function defectPart(defect: DefectKind, seed: number): Promise<Part> {
  const sample = generateDefect(KIND, defect, seed, SOURCE_SIZE);
  return { name: `${defect}-${seed}`, png: await encodePng(sample.image), truth: maskBox(sample.mask) };
}

/** Good and defective parts in turn, so the alarm (not latched) must rise and clear each time. */
function interleave(good: readonly Part[], bad: readonly Part[]): Part[] {
  return good.flatMap((part, i) => (bad[i] === undefined ? [part] : [part, bad[i]]));
}

/** The alarm events the `ng` rule without latch gives: one a NG part, `cleared` by the next OK part. */
function expectedEvents(parts: readonly Part[]): Array<[string, string]> {
  const events: Array<[string, string]> = [];
  parts.forEach((part, i) => {
    if (part.truth !== null) events.push(["alarm", part.name]);
    else if (parts[i - 1]?.truth) events.push(["cleared", part.name]);
  });
  return events;
}

describe("whole pipeline: image source -> preprocess -> detector -> threshold -> regions -> alarm -> Modbus", function () {
  this.timeout(60_000);
  const afterUnload = usePlcNodeRedHelper("no-opcua-client");
  let dir = "";
  let backbone = "";
  let nodes: NodeInitializer[] = [];
  let train: Part[] = [];
  let calibration: Part[] = [];
  let line: Part[] = [];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-pipeline-"));
    backbone = await writeTinyBackbone(dir);
    const ours = [imageSourceNode, preprocessNode, detectorNode, thresholdNode, maskToRegionNode, alarmNode];
    nodes = [...ours, ...(await loadModbusNodes())];
    train = await Promise.all(TRAIN_SEEDS.map(goodPart));
    calibration = await Promise.all(CALIBRATION_SEEDS.map(goodPart));
    const good = await Promise.all(GOOD_SEEDS.map(goodPart));
    const bad = await Promise.all(DEFECTS.map(({ defect, seed }) => defectPart(defect, seed)));
    line = interleave(good, bad);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  function flow(peer: ModbusPeer): FlowItem[] {
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
        trainCount: String(TRAIN_SEEDS.length),
        mapSize: "original",
        wires: [["thr"]],
      } as FlowItem<DetectorNodeDef>,
      {
        id: "thr",
        type: "defect-threshold",
        mode: "sigma",
        k: String(SIGMA_K),
        calibrationCount: String(CALIBRATION_SEEDS.length),
        wires: [["regions"]],
      } as FlowItem<ThresholdNodeDef>,
      {
        id: "regions",
        type: "defect-mask-to-region",
        minArea: String(MIN_AREA),
        overlay: "png",
        wires: [["alarm", "judged"]],
      } as FlowItem<MaskToRegionNodeDef>,
      {
        id: "alarm",
        type: "defect-alarm",
        rule: "ng",
        latch: false,
        protocol: "modbus",
        unitId: "1",
        coilReady: String(COILS.ready),
        coilResultReady: String(COILS.resultReady),
        coilOk: String(COILS.ok),
        coilNg: String(COILS.ng),
        coilError: String(COILS.error),
        coilAlarm: String(COILS.alarm),
        registerAddress: String(REGISTERS),
        scoreScale: String(SCORE_SCALE),
        wires: [["events"], ["plc"]],
      } as FlowItem<AlarmNodeDef>,
      ...modbusFlexWrite({ client: "mb", write: "plc", wires: [["written"], []] }, peer.host, peer.port),
      { id: "judged", type: "helper" },
      { id: "events", type: "helper" },
      { id: "written", type: "helper" },
      ...catchAll(),
    ]);
  }

  /**
   * One image at a time: image source and preprocess work on messages concurrently, so a burst
   * can reach the detector reordered, and PatchCore's coreset (greedy, from the first patch)
   * depends on the order it learned in.
   */
  async function send(msg: Record<string, unknown>): Promise<NodeMessage> {
    // Learning and calibration answers pass through the rest of the chain to its end.
    const answer = nextMessage(getNode("judged"), FIT_WAIT_MS);
    getNode("src").receive(msg as NodeMessage);
    return answer;
  }

  /** Sends one part and resolves with what mask-to-region sent, once the PLC has its whole result. */
  async function inspect(peer: ModbusPeer, part: Part): Promise<NodeMessage> {
    const judged = nextMessage(getNode("judged"), PART_WAIT_MS);
    const written = collectMessages(getNode("written"), WRITES_PER_PART, PART_WAIT_MS);
    const before = peer.writes.length;
    getNode("src").receive({ payload: part.png, partId: part.name } as NodeMessage);
    const msg = await judged;
    for (const out of await written) assert.equal(out["error"], undefined, `Flex-Write refused ${JSON.stringify(out.payload)}`);
    await peer.waitForWrites(before + WRITES_PER_PART, PART_WAIT_MS);
    return msg;
  }

  it("learns and calibrates on good parts, then finds every defect, where it is, and writes each result to the PLC", async function () {
    const peer = await startModbusPeer();
    afterUnload(() => peer.stop());
    await helper.load(nodes, flow(peer));
    const errors: unknown[] = [];
    getNode("caught").on("input", (msg: NodeMessage) => errors.push(msg["error"]));
    const events: AlarmEvent[] = [];
    getNode("events").on("input", (msg: NodeMessage) => events.push(msg.payload as AlarmEvent));

    // The detector fits by itself when the trainCount-th image arrives.
    const learning: Learned[] = [];
    for (const part of train) learning.push((await send({ payload: part.png, learn: true, topic: part.name })).payload as Learned);
    assert.deepEqual(
      learning.map((p) => p.count),
      TRAIN_SEEDS.map((_, i) => i + 1),
    );
    assert.equal(learning.at(-1)?.model?.trainedOn, TRAIN_SEEDS.length);

    // The threshold node calibrates by itself at calibrationCount; unlabelled samples are good.
    let record: Calibration | undefined;
    for (const part of calibration) record = ((await send({ payload: part.png, calibrate: true, topic: part.name })).payload as Calibrating).calibration;
    assert.ok(record !== undefined, "the last sample completes the calibration");
    assert.equal(record.mode, "sigma");
    assert.deepEqual(record.samples, { good: CALIBRATION_SEEDS.length, defect: 0 });
    assert.equal(record.stats.falseRejects, 0);
    const { mean, sd } = record.stats.good;
    assert.ok(Math.abs(record.threshold - (mean + SIGMA_K * sd)) < 1e-12, `threshold ${record.threshold} = ${mean} + ${SIGMA_K} * ${sd}`);

    await waitForModbusActive(getNode("mb"));
    for (const [index, part] of line.entries()) {
      const msg = await inspect(peer, part);
      const judged = msg.payload as Judged;
      const regions = msg["regions"] as Region[];
      const defective = part.truth !== null;
      const context = `${part.name}: ${JSON.stringify(judged)} ${JSON.stringify(regions)}`;

      assert.equal(judged.verdict, defective ? "NG" : "OK", context);
      assert.equal(judged.threshold, record.threshold, context);
      assert.equal(judged.score, (msg["detection"] as { score: number }).score, "the detector's score is judged");
      assert.equal(judged.regionCount, regions.length, context);
      if (part.truth === null) {
        assert.deepEqual(regions, [], context);
      } else {
        const top = regions[0];
        assert.ok(top !== undefined, `no region for ${context}`);
        assert.ok(boxesOverlap(top, part.truth), `top region misses the defect at ${JSON.stringify(part.truth)}: ${context}`);
        assert.ok(nearBox(top.centroid, part.truth, FEATURE_CELL), `top region's centroid is off the defect at ${JSON.stringify(part.truth)}: ${context}`);
        assert.ok(top.area >= MIN_AREA && top.maxScore >= record.threshold, context);
        for (const r of regions)
          assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= SOURCE_SIZE && r.y + r.height <= SOURCE_SIZE, `inside the image: ${context}`);
      }
      const overlay = await sharp(msg["overlay"] as Buffer).metadata();
      assert.deepEqual([overlay.format, overlay.width, overlay.height], ["png", SOURCE_SIZE, SOURCE_SIZE], "the overlay is never upscaled");

      assert.deepEqual(
        Object.fromEntries(Object.entries(COILS).map(([signal, address]) => [signal, peer.coil(address)])),
        { ready: true, resultReady: true, ok: !defective, ng: defective, error: false, alarm: defective },
        `coils after ${part.name}`,
      );
      const status = defective ? NG_BIT | ALARM_BIT : OK_BIT;
      // The result's number, as its record has it: learning and calibration messages get none.
      const resultId = (msg["result"] as { id: number }).id;
      assert.equal(resultId, index + 1);
      assert.deepEqual(
        peer.registers(REGISTERS, BLOCK_SIZE),
        [status, Math.round(judged.score * SCORE_SCALE), regions.length, index + 1, 0, resultId],
        `registers after ${part.name} (score ${judged.score})`,
      );
    }

    // Output 1 is sent with output 2, so every event has arrived once the last writes have.
    assert.deepEqual(
      events.map((e) => [e.event, e.evidence.partId]),
      expectedEvents(line),
    );
    assert.deepEqual(
      events.map((e) => e.evidence.resultId),
      events.map((e) => line.findIndex((p) => p.name === e.evidence.partId) + 1),
      "each event names the result that raised or cleared it",
    );
    assert.deepEqual(errors, [], "no node failed");
  });
});
