/**
 * Scale-out over a real MQTT v5 broker: Debian's mosquitto on 127.0.0.1, one line and three
 * inspection workers, each a Node-RED runtime in a process of its own with the package's real
 * nodes and Node-RED's core mqtt nodes. The test is only an MQTT client: it publishes camera and
 * learning images and reads what the line collected, the workers' model status and the errors.
 * It checks what a plant needs: every part's result arrives exactly once, also when a worker is
 * killed mid-stream; every worker takes a share; a worker started late inspects nothing before
 * it has the line's current model; a corrupt or mismatched model is refused and the workers go
 * on with the model they had.
 */
import assert from "node:assert/strict";
import { connectAsync, type MqttClient } from "mqtt";
import { writeModelFile, parseModelFile } from "../../src/lib/persist";
import { deriveSeed } from "../../src/lib/random";
import { generateDefect, generateGood } from "../../src/offline/synth";
import { encodePng } from "../fixtures/images";
import { waitUntil } from "../fixtures/free-port";
import { mosquittoPath, startMosquitto, type Broker } from "../fixtures/mosquitto";
import { lineFlows, TOPICS, workerFlows } from "../fixtures/scale-flows";
import { startRuntimeProcess, type RuntimeProcess } from "../fixtures/scale-processes";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const KIND = "printed-pattern";
const SIZE = 64;
const PARTS = 300;
const LATE_PARTS = 60;
/**
 * A publication waits this long for its result before the collector publishes the part again:
 * longer than a burst of 300 parts waits in the workers' queues, so parts are published again
 * mostly for the killed worker.
 */
const TIMEOUT_S = 5;
const RETRIES = 5;
/** Bounded waits: a loaded 2-core CI machine gets room, a missing message still fails. */
const WAIT_MS = 60_000;
const LEARN_TRIES = 6;
const LEARN_WAIT_MS = 5000;

interface Event {
  topic: string;
  payload: Record<string, unknown>;
}

interface Collected {
  partId: string;
  verdict: string;
  worker: string;
  attempt: number;
  model: { created: string | null; method: string | null };
}

describe("scale-out over MQTT: a line and inspection workers behind mosquitto", function () {
  this.timeout(180_000);
  const binary = mosquittoPath();
  let broker: Broker | undefined;
  let client: MqttClient | undefined;
  const processes: RuntimeProcess[] = [];
  const events: Event[] = [];
  let images: Buffer[] = [];
  let sharedModel: Buffer | undefined;

  const collected = (): Collected[] => events.filter((e) => e.topic === TOPICS.collected).map((e) => e.payload as unknown as Collected);
  const statuses = (worker: string): Array<Record<string, unknown>> => events.filter((e) => e.topic === `${TOPICS.status}/${worker}`).map((e) => e.payload);
  const errors = (): Event[] => events.filter((e) => e.topic.startsWith(TOPICS.errors));
  const diagnose = (): string =>
    `errors: ${JSON.stringify(errors().slice(0, 5))}\n` +
    processes.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n") +
    `\n--- broker\n${broker?.log() ?? ""}`;

  async function publishParts(from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) {
      await client!.publishAsync(TOPICS.camera, images[i % images.length] as Buffer, { qos: 1, properties: { userProperties: { partId: `p${i}` } } });
    }
  }

  function loaded(worker: string): Record<string, unknown> | undefined {
    return statuses(worker).find((s) => s["state"] === "loaded" || s["state"] === "current");
  }

  before(async function () {
    if (binary === undefined) {
      console.log("    mosquitto is not installed (apt-get install -y mosquitto): the scale-out tests are skipped");
      this.skip();
    }
    broker = await startMosquitto(binary);
    const port = broker.port;
    images = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => encodePng(generateGood(KIND, deriveSeed(11, KIND, i), SIZE))),
      encodePng(generateDefect(KIND, "hole", deriveSeed(11, KIND, "hole"), SIZE).image),
      encodePng(generateDefect(KIND, "scratch", deriveSeed(11, KIND, "scratch"), SIZE).image),
    ]);
    client = await connectAsync(broker.url, { protocolVersion: 5, clientId: `test-${process.pid}`, clean: true });
    client.on("message", (topic, payload) => {
      if (topic === TOPICS.models) {
        sharedModel = payload;
        return;
      }
      events.push({ topic, payload: JSON.parse(payload.toString("utf8")) as Record<string, unknown> });
    });
    await client.subscribeAsync([TOPICS.collected, `${TOPICS.errors}/#`, TOPICS.errors, `${TOPICS.status}/#`, TOPICS.models], { qos: 1 });
    // The line and three workers start side by side; the workers wait for a model.
    const started = await Promise.all([
      startRuntimeProcess("line", lineFlows({ port, timeoutS: TIMEOUT_S, retries: RETRIES })),
      ...["w1", "w2", "w3"].map((name) => startRuntimeProcess(name, workerFlows({ port, name, detector: "template" }))),
    ]);
    processes.push(...started);
    // The line learns its one reference; the fit answer makes model share publish the model.
    // The line subscribes once its broker connection is up, a moment after its flows started: a
    // learning image published before that is nobody's, so it is sent again until the model comes.
    for (let tries = 0; sharedModel === undefined; tries++) {
      if (tries >= LEARN_TRIES) assert.fail(`the line published no model after ${LEARN_TRIES} learning images\n${diagnose()}`);
      await client.publishAsync(TOPICS.learn, images[0] as Buffer, { qos: 1 });
      await waitUntil(
        () => sharedModel !== undefined,
        () => "the model",
        LEARN_WAIT_MS,
      ).catch(() => undefined);
    }
    await waitUntil(() => ["w1", "w2", "w3"].every((w) => loaded(w) !== undefined) || errors().length > 0, diagnose, WAIT_MS);
    assert.deepEqual(errors(), [], diagnose());
  });

  after(async function () {
    await Promise.all(processes.map((p) => p.stop()));
    await client?.endAsync();
    await broker?.stop();
  });

  it("hands every worker the line's model, which it answers with on its status topic", function () {
    const versions = ["w1", "w2", "w3"].map((w) => loaded(w)!);
    const model = versions[0]!["model"] as Record<string, unknown>;
    assert.equal(typeof model["version"], "string");
    assert.equal((model["version"] as string).length, 64, "the version is the model file's SHA-256");
    assert.equal(model["method"], "template");
    for (const [i, status] of versions.entries()) {
      assert.equal(status["worker"], `w${i + 1}`);
      assert.equal(status["state"], "loaded");
      assert.deepEqual(status["model"], model, "every worker loaded the same version");
    }
    assert.ok(sharedModel !== undefined && sharedModel.length > 0, "the model is retained on the broker");
  });

  it("inspects 300 parts on three workers, each result exactly once at the line, also when a worker is killed mid-stream", async function () {
    const publishing = publishParts(0, PARTS);
    await waitUntil(() => collected().length >= PARTS / 3 || errors().length > 0, diagnose, WAIT_MS);
    const w2 = processes.find((p) => p.name === "w2")!;
    await w2.kill();
    const resultsAtKill = collected().length;
    await publishing;
    await waitUntil(() => new Set(collected().map((c) => c.partId)).size >= PARTS || errors().length > 0, diagnose, WAIT_MS);
    // A copy would come from a part published again while its first result was on its way: give it one timeout to arrive.
    await new Promise((resolve) => setTimeout(resolve, TIMEOUT_S * 1000 + 500));
    assert.deepEqual(errors(), [], diagnose());
    const results = collected();
    const ids = results.map((c) => c.partId);
    assert.equal(new Set(ids).size, PARTS, "every part has a result");
    assert.equal(ids.length, PARTS, "and only one");
    assert.deepEqual([...new Set(ids)].sort(), Array.from({ length: PARTS }, (_, i) => `p${i}`).sort());
    const shares = new Map<string, number>();
    for (const c of results) shares.set(c.worker, (shares.get(c.worker) ?? 0) + 1);
    for (const worker of ["w1", "w2", "w3"]) assert.ok((shares.get(worker) ?? 0) > 0, `${worker} took a share: ${JSON.stringify([...shares])}`);
    assert.ok(resultsAtKill < PARTS, "w2 was killed while parts were still being inspected");
    // The parts w2 had taken and not answered were published again by the line's collector.
    const again = results.filter((c) => c.attempt > 1);
    assert.ok(again.length > 0, "some parts were inspected in a later publication");
    assert.ok(
      again.every((c) => c.worker !== "w2"),
      "never by the dead worker",
    );
    console.log(
      `      shares ${JSON.stringify([...shares].sort())}, ${again.length} parts published again after the kill (${resultsAtKill} results at the kill)`,
    );
    const model = loaded("w1")!["model"] as Record<string, unknown>;
    for (const c of results) {
      assert.equal(c.model.created, model["created"], `${c.partId} says which model scored it`);
      assert.equal(c.model.method, "template");
      assert.ok(c.verdict === "OK" || c.verdict === "NG" || c.verdict === "UNCERTAIN");
    }
  });

  it("gives a worker started late the current model before it inspects a part", async function () {
    const late = await startRuntimeProcess("w4", workerFlows({ port: broker!.port, name: "w4", detector: "template" }));
    processes.push(late);
    await waitUntil(() => loaded("w4") !== undefined || errors().length > 0, diagnose, WAIT_MS);
    const before = collected().length;
    await publishParts(PARTS, LATE_PARTS);
    await waitUntil(() => collected().length >= before + LATE_PARTS || errors().length > 0, diagnose, WAIT_MS);
    assert.deepEqual(errors(), [], diagnose());
    const statusAt = events.findIndex((e) => e.topic === `${TOPICS.status}/w4`);
    const firstResultAt = events.findIndex((e) => e.topic === TOPICS.collected && e.payload["worker"] === "w4");
    assert.ok(firstResultAt > statusAt && statusAt >= 0, `w4 answered with its model (event ${statusAt}) before its first result (event ${firstResultAt})`);
    const model = loaded("w4")!["model"] as Record<string, unknown>;
    assert.deepEqual(model, loaded("w1")!["model"], "the late worker has the line's current version");
    const mine = collected().filter((c) => c.worker === "w4");
    assert.ok(mine.length > 0, "the late worker takes a share");
    for (const c of mine) assert.equal(c.model.created, model["created"]);
  });

  it("refuses a corrupt model and a model of another backbone on the status topic, and goes on with the model it had", async function () {
    assert.ok(sharedModel !== undefined);
    const good = sharedModel;
    const corrupt = Buffer.from(good);
    const middle = Math.floor(corrupt.length / 2);
    corrupt[middle] = (corrupt[middle] as number) ^ 0xff;
    const dir = mkdtempSync(join(tmpdir(), "defect-scale-model-"));
    try {
      const file = await parseModelFile(good, "shared");
      const backbone = file.metadata["backbone"] as Record<string, unknown>;
      const path = join(dir, "other.ddm");
      await writeModelFile(path, { metadata: { ...file.metadata, backbone: { ...backbone, sha256: "0".repeat(64), size: 1234 } }, sections: file.sections });
      const mismatched = readFileSync(path);
      const workers = ["w1", "w3", "w4"];
      const refusals = (code: string): Array<Record<string, unknown>> =>
        workers.flatMap((w) => statuses(w).filter((s) => s["state"] === "refused" && (s["error"] as Record<string, unknown>)["code"] === code));
      // Not retained: the retained model stays the good one for workers that start later.
      await client!.publishAsync(TOPICS.models, corrupt, { qos: 1 });
      await waitUntil(() => refusals("modelFileInvalid").length >= workers.length, diagnose, WAIT_MS);
      await client!.publishAsync(TOPICS.models, mismatched, { qos: 1 });
      await waitUntil(() => refusals("modelMismatch").length >= workers.length, diagnose, WAIT_MS);
      const mismatch = refusals("modelMismatch")[0]!;
      assert.match(String((mismatch["error"] as Record<string, unknown>)["message"]), /backbone/);
      // Each refusal also reached the worker's Catch node.
      const caught = errors().map((e) => e.payload["code"]);
      assert.ok(caught.includes("modelFileInvalid") && caught.includes("modelMismatch"), JSON.stringify(caught));

      const before = collected().length;
      await publishParts(PARTS + LATE_PARTS, 30);
      await waitUntil(() => collected().length >= before + 30, diagnose, WAIT_MS);
      const created = (loaded("w1")!["model"] as Record<string, unknown>)["created"];
      for (const c of collected().slice(before)) assert.equal(c.model.created, created, `${c.partId} was scored by the model the worker had`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
