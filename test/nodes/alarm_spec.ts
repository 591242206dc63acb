/**
 * defect-alarm in Node-RED: verdict streams into alarm events (output 1) and PLC writes (output
 * 2) for Modbus and OPC-UA, acknowledgement and commands by message, status texts, and every
 * error path through Catch. Texts go through the node's real en-US catalog, as users see them.
 */
import assert from "node:assert/strict";
import type { NodeAPI, NodeMessage } from "node-red";
import type { AlarmEvent } from "../../src/lib/alarm";
import alarmNode from "../../src/nodes/alarm";
import type { AlarmNodeDef } from "../../src/nodes/alarm-def";
import {
  catalogKeys,
  catchAll,
  caughtError,
  collectMessages,
  delay,
  editorDefaultKeys,
  editorI18nKeys,
  expectNoMessage,
  firstSent,
  getNode,
  helper,
  nextMessage,
  onTab,
  sentMessages,
  statusCalls,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";
import { catalogTranslator } from "../fixtures/catalog";

const TYPE = "defect-alarm";
/** Writes of a verdict with every signal configured: ok, ng, error, alarm, values, resultReady, ready. */
const VERDICT_WRITES = 7;
/** Long enough for the node to have sent anything it was going to. */
const QUIET_MS = 150;
const SETTLE_MS = 50;

const translate = catalogTranslator("alarm");

const node = (RED: NodeAPI): void => {
  (RED as unknown as { _: typeof translate })._ = translate;
  alarmNode(RED);
};

const coil = (topic: string, address: number, value: boolean) => ({ topic, payload: { value, fc: 5, unitid: 1, address, quantity: 1 } });
const ua = (name: string, datatype: string, payload: boolean | number) => ({ topic: `ns=1;s=Defect.${name}`, datatype, payload, action: "write" });

/** What a flow sees of a PLC write: the message without Node-RED's _msgid. */
function plain(msg: NodeMessage): Record<string, unknown> {
  const { _msgid, ...rest } = msg;
  void _msgid;
  return rest;
}

const verdict = (v: string, extra: Record<string, unknown> = {}): NodeMessage => ({
  payload: { verdict: v, score: v === "NG" ? 0.9 : 0.1, threshold: 0.5, mode: "fixed" },
  ...extra,
});

describe("defect-alarm node", function () {
  this.timeout(20_000);
  useNodeRedHelper();

  /**
   * Loads the flow; unless the config is invalid, also waits until the deploy write (Ready) has
   * gone by, so that the writes a test collects are those of its own messages.
   */
  async function load(config: Partial<AlarmNodeDef> = {}, valid = true): Promise<void> {
    const alarm: FlowItem<AlarmNodeDef> = { id: "alarm", type: TYPE, wires: [["events"], ["plc"]], ...config };
    await helper.load(node, onTab([alarm, { id: "events", type: "helper" }, { id: "plc", type: "helper" }, ...catchAll()]));
    if (!valid) return;
    await firstSent(getNode("alarm"));
    // Node-RED delivers a sent message on a later turn of the event loop.
    await delay(SETTLE_MS);
  }

  const alarm = () => getNode("alarm");
  const plc = () => getNode("plc");
  const events = () => getNode("events");

  /** Sends `msg` and resolves with the `count` PLC writes it causes. */
  async function writesFor(msg: NodeMessage, count = VERDICT_WRITES): Promise<Record<string, unknown>[]> {
    const writes = collectMessages(plc(), count);
    alarm().receive(msg);
    return (await writes).map(plain);
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<NodeMessage> {
    const caught = nextMessage(getNode("caught"));
    alarm().receive({ _msgid: `m-${code}`, ...msg });
    const result = await caught;
    assert.equal(caughtError(result).code, code, caughtError(result).message);
    if (message !== undefined) assert.equal(caughtError(result).message, `Error: ${message}`);
    assert.equal(result._msgid, `m-${code}`, "the failed message itself reaches Catch");
    return result;
  }

  it("writes Ready to coil 0 once deployed", async function () {
    await load();
    const sent = (await firstSent(alarm())) as unknown as [null, NodeMessage[]];
    assert.equal(sent[0], null);
    assert.deepEqual(sent[1].map(plain), [coil("ready", 0, true)]);
    assert.deepEqual(statusTexts(alarm()), ["OK 0 / NG 0"]);
  });

  it("turns a verdict stream into an alarm event and the PLC writes, in order", async function () {
    await load();
    const okWrites = await writesFor(verdict("OK", { partId: "P-1" }));
    assert.deepEqual(okWrites, [
      coil("ok", 2, true),
      coil("ng", 3, false),
      coil("error", 4, false),
      coil("alarm", 5, false),
      { topic: "values", payload: { value: [1, 100, 0, 1, 0, 0], fc: 16, unitid: 1, address: 0, quantity: 6 } },
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);

    const event = nextMessage(events());
    const regions = [{ x: 4, y: 6, width: 10, height: 8, area: 60, maxScore: 0.95, centroid: { x: 9, y: 10 }, meanScore: 0.7 }];
    // The threshold node's record numbers the result: the PLC reads its id (70001 = 1 x 65536 + 4465), the event names it.
    const result = { id: 70001, station: "thr", partId: "P-2", verdict: "NG", score: 0.9 };
    const ngWrites = await writesFor(verdict("NG", { partId: "P-2", regions, result, image: { note: "travels on" } }));
    assert.deepEqual(ngWrites, [
      coil("ok", 2, false),
      coil("ng", 3, true),
      coil("error", 4, false),
      coil("alarm", 5, true),
      { topic: "values", payload: { value: [18, 900, 1, 2, 1, 4465], fc: 16, unitid: 1, address: 0, quantity: 6 } },
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);
    const out = await event;
    assert.equal(out.topic, "alarm");
    assert.deepEqual(out["image"], { note: "travels on" });
    const payload = out.payload as AlarmEvent;
    assert.ok(Date.parse(payload.time) > 0, payload.time);
    assert.deepEqual(
      { ...payload, time: "" },
      {
        event: "alarm",
        rule: "ng",
        severity: "critical",
        reason: "NG part",
        evidence: {
          partId: "P-2",
          resultId: 70001,
          score: 0.9,
          verdict: "NG",
          regions: { count: 1, totalArea: 60, top: [{ x: 4, y: 6, width: 10, height: 8, area: 60, maxScore: 0.95 }] },
        },
        sequence: 1,
        time: "",
      },
    );
    await waitForStatus(alarm(), "ALARM (latched): NG part");
    assert.equal(statusCalls(alarm()).at(-1)?.fill, "red");
  });

  it("acknowledges by message: event, PLC writes and status", async function () {
    await load({ rule: "consecutive", consecutive: "2", protocol: "opcua" });
    await writesFor(verdict("NG"), 10);
    const event = nextMessage(events());
    await writesFor(verdict("NG"), 10);
    assert.equal(((await event).payload as AlarmEvent).reason, "2 consecutive NG");
    await waitForStatus(alarm(), "ALARM (latched): 2 consecutive NG");

    const acked = nextMessage(events());
    const ackWrites = await writesFor({ command: "ack" }, 3);
    assert.deepEqual(ackWrites, [ua("ResultReady", "Boolean", false), ua("Alarm", "Boolean", false), ua("Error", "Boolean", false)]);
    const ack = await acked;
    assert.equal(ack.topic, "alarm");
    assert.equal((ack.payload as AlarmEvent).event, "acknowledged");
    assert.equal((ack.payload as AlarmEvent).sequence, 2);
    await waitForStatus(alarm(), "acknowledged: 2 consecutive NG");
    assert.equal(statusCalls(alarm()).at(-1)?.fill, "yellow");

    // A second ack has no alarm to end: only the handshake, no event.
    const quiet = expectNoMessage(events(), QUIET_MS);
    assert.deepEqual(await writesFor({ command: "ack" }, 2), [ua("ResultReady", "Boolean", false), ua("Error", "Boolean", false)]);
    await quiet;

    const okWrites = await writesFor(verdict("OK", { result: { id: 41, partId: "P-3" } }), 10);
    assert.deepEqual(okWrites, [
      ua("OK", "Boolean", true),
      ua("NG", "Boolean", false),
      ua("Error", "Boolean", false),
      ua("Alarm", "Boolean", false),
      ua("Score", "Double", 0.1),
      ua("RegionCount", "UInt32", 0),
      ua("Sequence", "UInt32", 3),
      ua("ResultId", "UInt32", 41),
      ua("ResultReady", "Boolean", true),
      ua("Ready", "Boolean", true),
    ]);
    // After the counts, the host's clock time of the last NG part.
    await waitForStatus(alarm(), /^OK 1 \/ NG 2 · last NG \d\d:\d\d:\d\d$/);
  });

  it("answers trigger, inspection errors and reset with their handshakes", async function () {
    await load({ rule: "consecutive", consecutive: "1", latch: false });
    assert.deepEqual(await writesFor({ command: "trigger" }, 2), [coil("ready", 0, false), coil("resultReady", 1, false)]);

    const raised = nextMessage(events());
    await writesFor(verdict("NG"));
    assert.equal(((await raised).payload as AlarmEvent).event, "alarm");

    const errorWrites = await writesFor({ payload: "whatever", error: { message: "decode failed", source: { id: "x", type: "y" } } });
    assert.deepEqual(errorWrites, [
      coil("ok", 2, false),
      coil("ng", 3, false),
      coil("error", 4, true),
      coil("alarm", 5, true),
      { topic: "values", payload: { value: [24, 0, 0, 2, 0, 0], fc: 16, unitid: 1, address: 0, quantity: 6 } },
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);

    const cleared = nextMessage(events());
    const resetWrites = await writesFor({ command: "reset" }, 6);
    assert.deepEqual(resetWrites, [
      coil("ok", 2, false),
      coil("ng", 3, false),
      coil("error", 4, false),
      coil("alarm", 5, false),
      coil("resultReady", 1, false),
      coil("ready", 0, true),
    ]);
    const clearedEvent = (await cleared).payload as AlarmEvent;
    assert.equal(clearedEvent.event, "cleared");
    assert.equal(clearedEvent.reason, "reset");
    await waitForStatus(alarm(), "OK 0 / NG 0");
  });

  it("shows the counts, at most once a second, with UNCERTAIN and errors when there are any", async function () {
    await load({ rule: "consecutive", consecutive: "5" });
    const writes = collectMessages(plc(), 5 * VERDICT_WRITES);
    for (const v of ["OK", "OK", "NG", "UNCERTAIN"]) alarm().receive(verdict(v));
    alarm().receive({ error: { message: "no image" } });
    await writes;
    await waitForStatus(alarm(), /^OK 2 \/ NG 1 \/ \? 1 \/ error 1 · last NG \d\d:\d\d:\d\d$/);
    // Five messages arrived within a second: the counts were not sent for each.
    assert.ok(statusTexts(alarm()).length <= 4, statusTexts(alarm()).join(", "));
  });

  it("counts each product as its own stream under its own rules (msg.recipe)", async function () {
    // Every NG alarms, except on product B, which alarms at the third NG in a row.
    await load({ rule: "ng", recipes: JSON.stringify({ B: { rule: "consecutive", consecutive: 3 } }) });
    const quiet = expectNoMessage(events(), QUIET_MS);
    const onB = await writesFor(verdict("NG", { recipe: "B" }));
    assert.deepEqual(onB[3], coil("alarm", 5, false), "one NG on B raises nothing");
    await writesFor(verdict("NG"));
    await quiet;
    await waitForStatus(alarm(), /^B: OK 0 \/ NG 2 · last NG/);
    const alarmed = nextMessage(events());
    const onA = await writesFor(verdict("NG", { recipe: "A" }));
    assert.deepEqual(onA[3], coil("alarm", 5, true), "A has no rules of its own: every NG alarms");
    assert.equal(((await alarmed).payload as AlarmEvent).event, "alarm");
    await waitForStatus(alarm(), /^ALARM \(latched\): NG part$/);
    // Back on B: its two NGs were kept, the third raises its alarm.
    const third = nextMessage(events());
    await writesFor(verdict("NG", { recipe: "B" }));
    assert.equal(((await third).payload as AlarmEvent).event, "alarm");
    await expectCaught(verdict("NG", { recipe: { b: 1 } }), "invalidOption");
  });

  it("refuses recipe rules the node would refuse, at deploy, naming the recipe", async function () {
    await load({ recipes: JSON.stringify({ B: { rule: "consecutive", consecutive: 0 } }) }, false);
    await expectCaught(verdict("NG"), "invalidOption");
    assert.deepEqual(statusTexts(alarm()), [`${TYPE}.status.error`]);
  });

  it("ignores the threshold node's calibration answers", async function () {
    await load();
    const quietEvents = expectNoMessage(events(), QUIET_MS);
    const quietPlc = expectNoMessage(plc(), QUIET_MS);
    alarm().receive({ payload: { calibrating: true, count: 3, total: 200, label: "good" } });
    await Promise.all([quietEvents, quietPlc]);
  });

  it("reports a message without a verdict through Catch, and the next one works", async function () {
    await load();
    await expectCaught({ payload: { score: 0.4 } }, "noVerdictInput", "No verdict to judge: msg.payload.verdict is missing");
    assert.equal(statusTexts(alarm()).at(-1), `${TYPE}.status.error`);
    await expectCaught({ payload: 0.4 }, "noVerdictInput", "No verdict to judge: expected an object from the threshold node, got number");
    await expectCaught({ command: "acknowledge" }, "invalidOption", 'Invalid msg.command: expected one of ack, trigger, reset, got "acknowledge"');
    const writes = await writesFor(verdict("OK"));
    assert.deepEqual(writes[0], coil("ok", 2, true));
    await waitForStatus(alarm(), "OK 1 / NG 0");
  });

  for (const [what, config, option] of [
    ["N = 0", { rule: "consecutive", consecutive: "0" }, "consecutive"],
    ["M = 0", { rateWindow: "0" }, "rateWindow"],
    ["R = 150", { ratePercent: "150" }, "ratePercent"],
    ["T = 0", { rateSeconds: "0" }, "rateSeconds"],
    ["a negative cooldown", { cooldown: "-5" }, "cooldown"],
    ["coil 70000", { coilNg: "70000" }, "coilNg"],
    ["unit id 300", { unitId: "300" }, "unitId"],
    ["a NodeId without namespace", { protocol: "opcua", nodeNg: "Defect.NG" }, "nodeNg"],
  ] as Array<[string, Partial<AlarmNodeDef>, string]>) {
    it(`rejects ${what} at deploy and every message after, through Catch`, async function () {
      await load(config, false);
      assert.deepEqual(statusTexts(alarm()), [`${TYPE}.status.error`]);
      const caught = await expectCaught(verdict("NG"), "invalidOption");
      assert.ok(caughtError(caught).message.startsWith(`Error: Invalid ${option}: expected `), caughtError(caught).message);
      await delay(QUIET_MS);
      assert.deepEqual(sentMessages(alarm()), [], "no PLC write from a node that is not configured");
    });
  }

  it("shows the exact config error text", async function () {
    await load({ coilAlarm: "3" }, false);
    await expectCaught(verdict("OK"), "invalidOption", 'Invalid coilAlarm: expected an address not used by coilNg (each signal needs its own coil), got "3"');
  });

  it("leaves nothing pending once closed", async function () {
    await load({ rule: "consecutive" });
    const writes = collectMessages(plc(), 2 * VERDICT_WRITES);
    alarm().receive(verdict("OK"));
    alarm().receive(verdict("OK"));
    await writes;
    // The helper's spies go with the flow: record what the closed node shows from here on.
    const closed = alarm();
    const after: unknown[] = [];
    Object.defineProperty(closed, "status", { value: (s: unknown) => after.push(s) });
    await helper.unload();
    // The throttled counts would have been shown within a second.
    await delay(1200);
    assert.deepEqual(after, [], "no status after close");
  });

  describe("catalog and editor", function () {
    const keys = catalogKeys("alarm");
    it("has a message for every error code and status the node uses", function () {
      for (const code of ["invalidOption", "noVerdictInput", "unexpected"]) assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      for (const state of ["counts", "uncertain", "errors", "alarm", "alarmLatched", "acknowledged", "error"]) {
        assert.ok(keys.has(`${TYPE}.status.${state}`), state);
      }
    });

    it("has every key the editor uses", function () {
      const used = editorI18nKeys("alarm");
      assert.ok(used.length > 40, `${used.length} keys`);
      for (const key of used) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of AlarmNodeDef", function () {
      const defined: EditorKeys<AlarmNodeDef> = {
        name: true,
        rule: true,
        consecutive: true,
        ratePercent: true,
        rateWindow: true,
        rateSeconds: true,
        rateMinParts: true,
        latch: true,
        cooldown: true,
        severity: true,
        uncertainAsNg: true,
        recipes: true,
        protocol: true,
        unitId: true,
        coilReady: true,
        coilResultReady: true,
        coilOk: true,
        coilNg: true,
        coilError: true,
        coilAlarm: true,
        registerAddress: true,
        scoreScale: true,
        nodeReady: true,
        nodeResultReady: true,
        nodeOk: true,
        nodeNg: true,
        nodeError: true,
        nodeAlarm: true,
        nodeScore: true,
        nodeRegionCount: true,
        nodeSequence: true,
        nodeResultId: true,
        nodeStatusWord: true,
      };
      assert.deepEqual(editorDefaultKeys("alarm").sort(), Object.keys(defined).sort());
    });
  });
});
