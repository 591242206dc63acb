/**
 * PLC messages of the alarm node: the handshake for each step, and the exact Flex-Write payloads
 * and OPC-UA client messages a flow receives, with clamping, wrapping and every config check.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import {
  encodeModbus,
  encodeOpcUa,
  handshakeWrites,
  parseNodeId,
  parsePlcOptions,
  plcMessages,
  registerBlock,
  statusWord,
  type HandshakeStep,
  type PlcOptions,
} from "../../src/lib/plc";

function throwsOption(fn: () => unknown, option: string): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, "invalidOption", error.message);
    assert.equal(error.details["option"], option);
    return error;
  }
  assert.fail(`expected invalidOption for ${option}`);
}

const MODBUS = parsePlcOptions({});
const OPCUA = parsePlcOptions({ protocol: "opcua" });

/** Result id 70001 = 1 x 65536 + 4465: high word 1, low word 4465 in the register block. */
const NG_VERDICT: HandshakeStep = { kind: "verdict", verdict: "NG", score: 0.4567, regionCount: 2, sequence: 7, resultId: 70001, alarm: true };
/** A verdict without a result record (a hand-made one): result id 0. */
const OK_VERDICT: HandshakeStep = { kind: "verdict", verdict: "OK", score: 0.12, regionCount: 0, sequence: 8, resultId: null, alarm: false };

/** A Flex-Write message for one coil with the default unit id. */
const coil = (topic: string, address: number, value: boolean) => ({ topic, payload: { value, fc: 5, unitid: 1, address, quantity: 1 } });
const registers = (value: number[], address = 0, unitid = 1) => ({ topic: "values", payload: { value, fc: 16, unitid, address, quantity: 6 } });
const ua = (name: string, datatype: string, payload: boolean | number) => ({ topic: `ns=1;s=Defect.${name}`, datatype, payload, action: "write" });

describe("plc options", function () {
  it("defaults to Modbus unit 1, coils 0..5, registers from 0, score x1000", function () {
    assert.deepEqual(MODBUS, {
      protocol: "modbus",
      modbus: { unitId: 1, coils: { ready: 0, resultReady: 1, ok: 2, ng: 3, error: 4, alarm: 5 }, registerAddress: 0, scoreScale: 1000 },
      opcua: { nodeIds: {} },
    });
  });

  it("defaults OPC-UA NodeIds to ns=1;s=Defect.<Signal>, the status word off", function () {
    assert.deepEqual(OPCUA.opcua.nodeIds, {
      ready: "ns=1;s=Defect.Ready",
      resultReady: "ns=1;s=Defect.ResultReady",
      ok: "ns=1;s=Defect.OK",
      ng: "ns=1;s=Defect.NG",
      error: "ns=1;s=Defect.Error",
      alarm: "ns=1;s=Defect.Alarm",
      score: "ns=1;s=Defect.Score",
      regionCount: "ns=1;s=Defect.RegionCount",
      sequence: "ns=1;s=Defect.Sequence",
      resultId: "ns=1;s=Defect.ResultId",
    });
  });

  it("an empty address or NodeId means: not written", function () {
    const modbus = parsePlcOptions({ coilReady: "", coilNg: " 17 ", registerAddress: "", unitId: "3", scoreScale: "100" }).modbus;
    assert.deepEqual(modbus, { unitId: 3, coils: { resultReady: 1, ok: 2, ng: 17, error: 4, alarm: 5 }, registerAddress: undefined, scoreScale: 100 });
    const opcua = parsePlcOptions({ protocol: "opcua", nodeScore: "", nodeStatusWord: "ns=2;i=1001" }).opcua;
    assert.equal(opcua.nodeIds.score, undefined);
    assert.equal(opcua.nodeIds.statusWord, "ns=2;i=1001");
  });

  const bad: Array<[string, Record<string, unknown>]> = [
    ["coilNg", { coilNg: "-1" }],
    ["coilNg", { coilNg: "65536" }],
    ["coilOk", { coilOk: "2.5" }],
    ["coilAlarm", { coilAlarm: "five" }],
    ["unitId", { unitId: "256" }],
    ["unitId", { unitId: "-1" }],
    ["registerAddress", { registerAddress: "65533" }],
    ["scoreScale", { scoreScale: "0" }],
    ["scoreScale", { scoreScale: "-10" }],
    ["protocol", { protocol: "profinet" }],
    ["nodeNg", { protocol: "opcua", nodeNg: "Defect.NG" }],
    ["nodeNg", { protocol: "opcua", nodeNg: "ns=1;x=Defect.NG" }],
    ["nodeOk", { protocol: "opcua", nodeOk: "ns=70000;s=OK" }],
    ["nodeOk", { protocol: "opcua", nodeOk: "ns=1;i=4294967296" }],
    ["nodeOk", { protocol: "opcua", nodeOk: "ns=1;s=" }],
    ["nodeOk", { protocol: "opcua", nodeOk: "ns=1;g=1234" }],
    ["nodeScore", { protocol: "opcua", nodeScore: "ns=1;s=Score;datatype=Double" }],
  ];
  for (const [option, input] of bad) {
    it(`rejects ${option} = ${JSON.stringify(Object.values(input).at(-1))}`, function () {
      throwsOption(() => parsePlcOptions(input), option);
    });
  }

  it("rejects two signals on one coil or one NodeId, naming the second", function () {
    const error = throwsOption(() => parsePlcOptions({ coilAlarm: "3" }), "coilAlarm");
    assert.equal(error.message, 'Option coilAlarm must be an address not used by coilNg (each signal needs its own coil), got "3"');
    throwsOption(() => parsePlcOptions({ protocol: "opcua", nodeAlarm: "ns=1;s=Defect.NG" }), "nodeAlarm");
  });

  it("registers may start at 65530, the last block of 6 that fits", function () {
    assert.equal(parsePlcOptions({ registerAddress: "65530" }).modbus.registerAddress, 65530);
    assert.equal(
      throwsOption(() => parsePlcOptions({ registerAddress: "65531" }), "registerAddress").message,
      'Option registerAddress must be an integer from 0 to 65530, got "65531"',
    );
  });

  it("checks only the chosen protocol's fields", function () {
    assert.equal(parsePlcOptions({ protocol: "opcua", coilNg: "oops" }).protocol, "opcua");
    assert.equal(parsePlcOptions({ protocol: "modbus", nodeNg: "oops" }).protocol, "modbus");
  });

  it("accepts numeric, GUID and opaque NodeIds", function () {
    assert.equal(parseNodeId("n", "ns=0;i=2258"), "ns=0;i=2258");
    assert.equal(parseNodeId("n", " ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a "), "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a");
    assert.equal(parseNodeId("n", "ns=2;b=M/RbKBsRVkePCePcx24oRA=="), "ns=2;b=M/RbKBsRVkePCePcx24oRA==");
    assert.equal(parseNodeId("n", "ns=1;s=Line 1.Station/3"), "ns=1;s=Line 1.Station/3");
  });
});

describe("plc handshake", function () {
  it("deploy: Ready", function () {
    assert.deepEqual(handshakeWrites({ kind: "deploy" }), [{ signal: "ready", value: true }]);
  });

  it("trigger: not Ready, no result", function () {
    assert.deepEqual(handshakeWrites({ kind: "trigger" }), [
      { signal: "ready", value: false },
      { signal: "resultReady", value: false },
    ]);
  });

  it("verdict: bits and values first, then Result ready, then Ready", function () {
    assert.deepEqual(handshakeWrites(NG_VERDICT), [
      { signal: "ok", value: false },
      { signal: "ng", value: true },
      { signal: "error", value: false },
      { signal: "alarm", value: true },
      { signal: "values", values: { statusWord: 0b10010, score: 0.4567, regionCount: 2, sequence: 7, resultId: 70001 } },
      { signal: "resultReady", value: true },
      { signal: "ready", value: true },
    ]);
  });

  it("a verdict without a score writes score 0", function () {
    const writes = handshakeWrites({ kind: "verdict", verdict: "UNCERTAIN", score: null, regionCount: 0, sequence: 1, resultId: 12, alarm: false });
    assert.deepEqual(writes[4], { signal: "values", values: { statusWord: 0b100, score: 0, regionCount: 0, sequence: 1, resultId: 12 } });
  });

  it("error: Error with the error bit and result id 0 (no record), then Result ready and Ready", function () {
    assert.deepEqual(handshakeWrites({ kind: "error", sequence: 9, alarm: false }), [
      { signal: "ok", value: false },
      { signal: "ng", value: false },
      { signal: "error", value: true },
      { signal: "alarm", value: false },
      { signal: "values", values: { statusWord: 0b1000, score: 0, regionCount: 0, sequence: 9, resultId: 0 } },
      { signal: "resultReady", value: true },
      { signal: "ready", value: true },
    ]);
  });

  it("ack: Result ready and Error off; Alarm off only when a latched alarm was acknowledged", function () {
    assert.deepEqual(handshakeWrites({ kind: "ack", acknowledged: true }), [
      { signal: "resultReady", value: false },
      { signal: "alarm", value: false },
      { signal: "error", value: false },
    ]);
    assert.deepEqual(handshakeWrites({ kind: "ack", acknowledged: false }), [
      { signal: "resultReady", value: false },
      { signal: "error", value: false },
    ]);
  });

  it("reset: every bit off, Ready on", function () {
    assert.deepEqual(handshakeWrites({ kind: "reset" }), [
      { signal: "ok", value: false },
      { signal: "ng", value: false },
      { signal: "error", value: false },
      { signal: "alarm", value: false },
      { signal: "resultReady", value: false },
      { signal: "ready", value: true },
    ]);
  });

  it("status word: bit 0 OK, 1 NG, 2 UNCERTAIN, 3 error, 4 alarm", function () {
    assert.deepEqual(
      [statusWord("OK", false), statusWord("NG", false), statusWord("UNCERTAIN", false), statusWord("error", false), statusWord("OK", true)],
      [1, 2, 4, 8, 17],
    );
  });
});

describe("plc Modbus Flex-Write messages", function () {
  it("deploy writes coil 0", function () {
    assert.deepEqual(plcMessages({ kind: "deploy" }, MODBUS), [coil("ready", 0, true)]);
  });

  it("trigger writes coils 0 and 1", function () {
    assert.deepEqual(plcMessages({ kind: "trigger" }, MODBUS), [coil("ready", 0, false), coil("resultReady", 1, false)]);
  });

  it("an NG verdict writes the coils and one FC 16 block [status, score x1000, regions, sequence, result id high, low]", function () {
    assert.deepEqual(plcMessages(NG_VERDICT, MODBUS), [
      coil("ok", 2, false),
      coil("ng", 3, true),
      coil("error", 4, false),
      coil("alarm", 5, true),
      registers([18, 457, 2, 7, 1, 4465]),
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);
  });

  it("an OK verdict", function () {
    assert.deepEqual(plcMessages(OK_VERDICT, MODBUS), [
      coil("ok", 2, true),
      coil("ng", 3, false),
      coil("error", 4, false),
      coil("alarm", 5, false),
      registers([1, 120, 0, 8, 0, 0]),
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);
  });

  it("error, ack and reset", function () {
    assert.deepEqual(plcMessages({ kind: "error", sequence: 3, alarm: true }, MODBUS), [
      coil("ok", 2, false),
      coil("ng", 3, false),
      coil("error", 4, true),
      coil("alarm", 5, true),
      registers([24, 0, 0, 3, 0, 0]),
      coil("resultReady", 1, true),
      coil("ready", 0, true),
    ]);
    assert.deepEqual(plcMessages({ kind: "ack", acknowledged: true }, MODBUS), [
      coil("resultReady", 1, false),
      coil("alarm", 5, false),
      coil("error", 4, false),
    ]);
    assert.deepEqual(plcMessages({ kind: "reset" }, MODBUS), [
      coil("ok", 2, false),
      coil("ng", 3, false),
      coil("error", 4, false),
      coil("alarm", 5, false),
      coil("resultReady", 1, false),
      coil("ready", 0, true),
    ]);
  });

  it("uses the configured unit id, addresses and scale, and skips signals without an address", function () {
    const options = parsePlcOptions({ unitId: "7", coilOk: "", coilError: "", coilAlarm: "", coilNg: "100", registerAddress: "40", scoreScale: "10" });
    assert.deepEqual(plcMessages(NG_VERDICT, options), [
      { topic: "ng", payload: { value: true, fc: 5, unitid: 7, address: 100, quantity: 1 } },
      registers([18, 5, 2, 7, 1, 4465], 40, 7),
      { topic: "resultReady", payload: { value: true, fc: 5, unitid: 7, address: 1, quantity: 1 } },
      { topic: "ready", payload: { value: true, fc: 5, unitid: 7, address: 0, quantity: 1 } },
    ]);
    const noRegisters = parsePlcOptions({ registerAddress: "" });
    assert.equal(
      plcMessages(NG_VERDICT, noRegisters).some((m) => m.topic === "values"),
      false,
    );
  });

  it("clamps the scaled score and region count to 0..65535 and wraps the sequence", function () {
    const block = (score: number, regionCount: number, sequence: number): number[] =>
      registerBlock({ statusWord: 2, score, regionCount, sequence, resultId: 0 }, 1000).slice(0, 4);
    assert.deepEqual(block(65.5355, 3, 65535), [2, 65535, 3, 65535]);
    assert.deepEqual(block(70, 70_000, 65536), [2, 65535, 65535, 0]);
    assert.deepEqual(block(-0.2, 0, 65537), [2, 0, 0, 1]);
    assert.deepEqual(block(Number.NaN, 0, 131_074), [2, 0, 0, 2]);
    assert.deepEqual(block(0.0004, 0, 0), [2, 0, 0, 0], "rounds to the nearest step");
    assert.deepEqual(block(0.0005, 0, 0), [2, 1, 0, 0]);
  });

  it("writes the result id as two registers, high word first, wrapping at 2^32", function () {
    const words = (resultId: number): number[] => registerBlock({ statusWord: 1, score: 0, regionCount: 0, sequence: 0, resultId }, 1000).slice(4);
    assert.deepEqual(words(1), [0, 1]);
    assert.deepEqual(words(65_535), [0, 65_535]);
    assert.deepEqual(words(65_536), [1, 0]);
    assert.deepEqual(words(2 ** 32 - 1), [65_535, 65_535]);
    assert.deepEqual(words(2 ** 32 + 7), [0, 7]);
  });

  it("passes through encodeModbus for any list of writes", function () {
    assert.deepEqual(encodeModbus([{ signal: "alarm", value: true }], MODBUS.modbus), [coil("alarm", 5, true)]);
  });
});

describe("plc OPC-UA client messages", function () {
  it("deploy and trigger", function () {
    assert.deepEqual(plcMessages({ kind: "deploy" }, OPCUA), [ua("Ready", "Boolean", true)]);
    assert.deepEqual(plcMessages({ kind: "trigger" }, OPCUA), [ua("Ready", "Boolean", false), ua("ResultReady", "Boolean", false)]);
  });

  it("an NG verdict: Booleans, the score unscaled as Double, counts as UInt32", function () {
    assert.deepEqual(plcMessages(NG_VERDICT, OPCUA), [
      ua("OK", "Boolean", false),
      ua("NG", "Boolean", true),
      ua("Error", "Boolean", false),
      ua("Alarm", "Boolean", true),
      ua("Score", "Double", 0.4567),
      ua("RegionCount", "UInt32", 2),
      ua("Sequence", "UInt32", 7),
      ua("ResultId", "UInt32", 70001),
      ua("ResultReady", "Boolean", true),
      ua("Ready", "Boolean", true),
    ]);
  });

  it("error and ack", function () {
    assert.deepEqual(plcMessages({ kind: "error", sequence: 4, alarm: false }, OPCUA), [
      ua("OK", "Boolean", false),
      ua("NG", "Boolean", false),
      ua("Error", "Boolean", true),
      ua("Alarm", "Boolean", false),
      ua("Score", "Double", 0),
      ua("RegionCount", "UInt32", 0),
      ua("Sequence", "UInt32", 4),
      ua("ResultId", "UInt32", 0),
      ua("ResultReady", "Boolean", true),
      ua("Ready", "Boolean", true),
    ]);
    assert.deepEqual(plcMessages({ kind: "ack", acknowledged: false }, OPCUA), [ua("ResultReady", "Boolean", false), ua("Error", "Boolean", false)]);
  });

  it("writes the status word as UInt16 where configured, and wraps the sequence and result id at 2^32", function () {
    const options: PlcOptions = parsePlcOptions({ protocol: "opcua", nodeStatusWord: "ns=1;s=Defect.StatusWord", nodeOk: "", nodeNg: "" });
    const values = encodeOpcUa(
      [{ signal: "values", values: { statusWord: 17, score: 1.5, regionCount: -3, sequence: 2 ** 32 + 5, resultId: 2 ** 32 + 9 } }],
      options.opcua,
    );
    assert.deepEqual(values, [
      ua("StatusWord", "UInt16", 17),
      ua("Score", "Double", 1.5),
      ua("RegionCount", "UInt32", 0),
      ua("Sequence", "UInt32", 5),
      ua("ResultId", "UInt32", 9),
    ]);
    assert.equal(
      plcMessages(OK_VERDICT, options).some((m) => m.topic === "ns=1;s=Defect.OK"),
      false,
      "OK not configured",
    );
  });
});
