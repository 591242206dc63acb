/**
 * defect-alarm's second output wired to the real PLC nodes and real peers on 127.0.0.1:
 * verdicts, triggers, acknowledgements and inspection errors go in, and the coils, registers
 * and variables a PLC would read are read back from the servers.
 */
import assert from "node:assert/strict";
import type { Node, NodeInitializer, NodeMessage } from "node-red";
import alarmNode from "../../src/nodes/alarm";
import type { AlarmNodeDef } from "../../src/nodes/alarm-def";
import { startModbusPeer, type ModbusPeer } from "../fixtures/modbus-peer";
import { collectMessages, getNode, helper, onTab, type FlowItem } from "../fixtures/node-red";
import { startOpcuaPeer, type OpcuaPeer, type Signal } from "../fixtures/opcua-peer";
import {
  loadModbusNodes,
  loadOpcuaNodes,
  modbusFlexWrite,
  opcuaWriter,
  usePlcNodeRedHelper,
  waitForModbusActive,
  waitForOpcuaSession,
} from "../fixtures/plc-nodes";

const WRITE_WAIT_MS = 5000;
const COILS = { ready: 10, resultReady: 11, ok: 12, ng: 13, error: 14, alarm: 15 };
const REGISTERS = 200;
/** Status word, score, region count, sequence, result id high and low word. */
const BLOCK_SIZE = 6;
const SCORE_SCALE = 1000;
/** Status word bits of the contract. */
const OK_BIT = 0b1;
const NG_BIT = 0b10;
const ERROR_BIT = 0b1000;
const ALARM_BIT = 0b10000;

const REGIONS = [
  { x: 10, y: 12, width: 8, height: 6, area: 40, maxScore: 0.91 },
  { x: 40, y: 30, width: 4, height: 4, area: 12, maxScore: 0.7 },
  { x: 2, y: 50, width: 3, height: 2, area: 5, maxScore: 0.6 },
];
/** The NG part's result id as the threshold node numbered it: 131074 = 2 x 65536 + 2, past one register. */
const NG_RESULT_ID = 131_074;
/** Fresh messages each time: a node may reuse the message it received (the alarm event does). */
const ngPart = (): NodeMessage =>
  ({
    payload: { verdict: "NG", score: 0.8734, threshold: 0.5, mode: "fixed" },
    regions: structuredClone(REGIONS),
    partId: "part-1",
    result: { id: NG_RESULT_ID, station: "thr", partId: "part-1", verdict: "NG", score: 0.8734 },
  }) as NodeMessage;
/** A verdict made without a threshold node before it has no record: result id 0. */
const okPart = (): NodeMessage => ({ payload: { verdict: "OK", score: 0.1204, threshold: 0.5, mode: "fixed" }, regions: [], partId: "part-2" }) as NodeMessage;

function alarm(config: Partial<AlarmNodeDef>): FlowItem {
  return { id: "alarm", type: "defect-alarm", rule: "ng", latch: true, wires: [["events"], ["plc"]], ...config } as FlowItem;
}

describe("defect-alarm driving real PLC peers", function () {
  this.timeout(30_000);
  const afterUnload = usePlcNodeRedHelper("plc");

  describe("Modbus: alarm -> Flex-Write -> modbus-serial ServerTCP", function () {
    let modbusNodes: NodeInitializer[] = [];
    let peer: ModbusPeer;
    before(async function () {
      modbusNodes = await loadModbusNodes();
    });

    async function load(): Promise<Node> {
      const started = await startModbusPeer();
      peer = started;
      afterUnload(() => started.stop());
      const coils = {
        coilReady: COILS.ready,
        coilResultReady: COILS.resultReady,
        coilOk: COILS.ok,
        coilNg: COILS.ng,
        coilError: COILS.error,
        coilAlarm: COILS.alarm,
      };
      const flow = [
        alarm({ protocol: "modbus", unitId: "1", registerAddress: String(REGISTERS), scoreScale: String(SCORE_SCALE), ...coils }),
        ...modbusFlexWrite({ client: "mb", write: "plc", wires: [["written"], []] }, started.host, started.port),
        { id: "events", type: "helper" },
        { id: "written", type: "helper" },
      ];
      await helper.load([alarmNode, ...modbusNodes], onTab(flow));
      await waitForModbusActive(getNode("mb"));
      return getNode("alarm");
    }

    /** Sends `msg` and waits until the peer has `count` more writes, all accepted by Flex-Write. */
    async function send(node: Node, msg: NodeMessage, count: number): Promise<void> {
      const written = collectMessages(getNode("written"), count, WRITE_WAIT_MS);
      const before = peer.writes.length;
      node.receive(msg);
      for (const out of await written) assert.equal(out["error"], undefined, `Flex-Write refused ${JSON.stringify(out.payload)}`);
      await peer.waitForWrites(before + count, WRITE_WAIT_MS);
    }

    function coilStates(): Record<keyof typeof COILS, boolean | undefined> {
      const entries = Object.entries(COILS).map(([signal, address]) => [signal, peer.coil(address)]);
      return Object.fromEntries(entries) as Record<keyof typeof COILS, boolean | undefined>;
    }

    it("trigger then an NG part: NG and alarm coils, the register block, result ready last", async function () {
      const node = await load();
      const start = peer.writes.length;
      await send(node, { payload: null, command: "trigger" } as NodeMessage, 2);
      assert.deepEqual(coilStates().ready, false);
      const events = collectMessages(getNode("events"), 1);
      await send(node, ngPart(), 7);
      assert.deepEqual(coilStates(), { ready: true, resultReady: true, ok: false, ng: true, error: false, alarm: true });
      assert.deepEqual(peer.registers(REGISTERS, BLOCK_SIZE), [NG_BIT | ALARM_BIT, 873, REGIONS.length, 1, 2, 2]);
      // A PLC reading on the rising edge of Result ready must find the values already there.
      const order = peer.writes.slice(start).map((w) => (w.kind === "registers" ? "block" : `${w.address}=${String(w.values[0])}`));
      assert.deepEqual(order, [
        `${COILS.ready}=false`,
        `${COILS.resultReady}=false`,
        `${COILS.ok}=false`,
        `${COILS.ng}=true`,
        `${COILS.error}=false`,
        `${COILS.alarm}=true`,
        "block",
        `${COILS.resultReady}=true`,
        `${COILS.ready}=true`,
      ]);
      assert.ok(
        peer.writes.slice(start).every((w) => w.unitId === 1),
        "every write goes to unit 1",
      );
      const [event] = await events;
      assert.equal((event?.payload as { event?: unknown }).event, "alarm");
    });

    it("ack clears the latched alarm; the next OK part writes its own block and sequence 2", async function () {
      const node = await load();
      await send(node, ngPart(), 7);
      await send(node, { payload: null, command: "ack" } as NodeMessage, 3);
      assert.deepEqual([peer.coil(COILS.resultReady), peer.coil(COILS.alarm), peer.coil(COILS.error)], [false, false, false]);
      await send(node, okPart(), 7);
      assert.deepEqual(coilStates(), { ready: true, resultReady: true, ok: true, ng: false, error: false, alarm: false });
      assert.deepEqual(peer.registers(REGISTERS, BLOCK_SIZE), [OK_BIT, 120, 0, 2, 0, 0]);
    });
  });

  describe("OPC-UA: alarm -> OpcUa-Client -> node-opcua server", function () {
    let opcuaNodes: NodeInitializer[] = [];
    let peer: OpcuaPeer;
    before(async function () {
      opcuaNodes = await loadOpcuaNodes();
    });

    async function load(): Promise<Node> {
      const started = await startOpcuaPeer();
      peer = started;
      afterUnload(() => started.stop());
      const flow = [
        alarm({ protocol: "opcua", nodeStatusWord: "ns=1;s=Defect.StatusWord" }),
        ...opcuaWriter({ endpoint: "ep", client: "plc", wires: [["written"], [], []] }, started.endpointUrl),
        { id: "events", type: "helper" },
        { id: "written", type: "helper" },
      ];
      await helper.load([alarmNode, ...opcuaNodes], onTab(flow));
      await waitForOpcuaSession(getNode("plc"));
      return getNode("alarm");
    }

    async function send(node: Node, msg: NodeMessage, count: number): Promise<void> {
      const written = collectMessages(getNode("written"), count, WRITE_WAIT_MS);
      const before = peer.writes.length;
      node.receive(msg);
      const statuses = (await written).map((out) => String((out.payload as { name?: unknown }).name));
      assert.deepEqual(
        statuses,
        statuses.map(() => "Good"),
        "the server accepts every write",
      );
      await peer.waitForWrites(before + count, WRITE_WAIT_MS);
    }

    const values = (...signals: Signal[]): unknown[] => signals.map((signal) => peer.value(signal));

    it("Ready at deploy, then an NG part: typed variables, result ready after the values", async function () {
      const node = await load();
      // The client queues the deploy write while it connects.
      await peer.waitForWrites(1, WRITE_WAIT_MS);
      assert.deepEqual(peer.writes[0], { signal: "Ready", value: true, dataType: "Boolean" });
      await send(node, ngPart(), 11);
      assert.deepEqual(values("OK", "NG", "Error", "Alarm", "ResultReady", "Ready"), [false, true, false, true, true, true]);
      assert.deepEqual(values("StatusWord", "Score", "RegionCount", "Sequence", "ResultId"), [NG_BIT | ALARM_BIT, 0.8734, REGIONS.length, 1, NG_RESULT_ID]);
      const signals = peer.writes.slice(1).map((w) => w.signal);
      assert.ok(signals.indexOf("ResultReady") > signals.indexOf("ResultId"), `Result ready after the values: ${signals.join(",")}`);
    });

    it("an inspection error sets Error and Result ready; ack clears them", async function () {
      const node = await load();
      await peer.waitForWrites(1, WRITE_WAIT_MS);
      await send(node, { payload: null, error: { message: "camera timeout" } } as NodeMessage, 11);
      assert.deepEqual(values("OK", "NG", "Error", "ResultReady", "Ready"), [false, false, true, true, true]);
      assert.deepEqual(values("StatusWord", "Score", "RegionCount", "Sequence", "ResultId"), [ERROR_BIT, 0, 0, 1, 0]);
      await send(node, { payload: null, command: "ack" } as NodeMessage, 2);
      assert.deepEqual(values("ResultReady", "Error"), [false, false]);
    });
  });
});
