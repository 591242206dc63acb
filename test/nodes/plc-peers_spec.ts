/**
 * The contract's PLC messages through the real third-party nodes into real peers on 127.0.0.1:
 * node-red-contrib-modbus Flex-Write (running on the npm modbus-serial that package.json's
 * override substitutes for @openp4nr/modbus-serial) into a modbus-serial ServerTCP, and
 * node-red-contrib-opcua's client into a node-opcua server. Values are read back from the peers.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import type { Node, NodeInitializer, NodeMessage } from "node-red";
import { startModbusPeer, type ModbusPeer } from "../fixtures/modbus-peer";
import { collectMessages, getNode, helper, nextMessage, onTab, type FlowItem } from "../fixtures/node-red";
import { nodeIdOf, startOpcuaPeer, type OpcuaPeer } from "../fixtures/opcua-peer";
import {
  loadModbusNodes,
  loadOpcuaNodes,
  modbusFlexWrite,
  opcuaWriter,
  usePlcNodeRedHelper,
  waitForModbusActive,
  waitForOpcuaSession,
} from "../fixtures/plc-nodes";

const UNIT_ID = 1;
const NG_COIL = 3;
const REGISTER_BLOCK = 100;
/** [statusWord NG, score 0.873 x 1000, 3 regions, sequence 65535]: the contract's fc 16 block. */
const BLOCK = [0b10, 873, 3, 65535];

/** Flex-Write's first output carries the request it sent, value included. */
function writtenValue(msg: NodeMessage): unknown {
  return (msg.payload as { value?: unknown } | undefined)?.value;
}

function statusName(msg: NodeMessage): string {
  const payload = msg.payload as { name?: unknown } | undefined;
  return String(payload?.name);
}

describe("PLC peers: contract messages through the real contrib nodes", function () {
  this.timeout(30_000);
  const afterUnload = usePlcNodeRedHelper("plc");

  describe("Modbus: Flex-Write into a modbus-serial ServerTCP", function () {
    let modbusNodes: NodeInitializer[] = [];
    let peer: ModbusPeer;
    before(async function () {
      modbusNodes = await loadModbusNodes();
    });

    async function load(): Promise<Node> {
      const started = await startModbusPeer();
      peer = started;
      afterUnload(() => started.stop());
      const flow = modbusFlexWrite({ client: "mb", write: "write", wires: [["out"], []] }, peer.host, peer.port);
      await helper.load(modbusNodes, onTab([...flow, { id: "out", type: "helper" }]));
      await waitForModbusActive(getNode("mb"));
      return getNode("write");
    }

    async function write(node: Node, payload: Record<string, unknown>): Promise<NodeMessage> {
      const out = nextMessage(getNode("out"));
      node.receive({ payload });
      const msg = await out;
      assert.equal(msg["error"], undefined, `Flex-Write refused ${JSON.stringify(payload)}`);
      return msg;
    }

    it("runs on the npm modbus-serial 8.0.25 that replaces @openp4nr/modbus-serial", async function () {
      const node = await load();
      const fromContrib = { paths: [dirname(require.resolve("node-red-contrib-modbus/package.json"))] };
      const manifest = JSON.parse(readFileSync(require.resolve("@openp4nr/modbus-serial/package.json", fromContrib), "utf8")) as Record<string, unknown>;
      assert.deepEqual([manifest["name"], manifest["version"]], ["modbus-serial", "8.0.25"]);
      // The connection the node writes through is an instance of that very package.
      const ModbusRTU = (await import(pathToFileURL(require.resolve("@openp4nr/modbus-serial", fromContrib)).href)) as { default: new () => unknown };
      const client = (getNode("mb") as unknown as { client: unknown }).client;
      assert.ok(client instanceof ModbusRTU.default, "the modbus-client's connection comes from the overridden package");
      await write(node, { value: true, fc: 5, unitid: UNIT_ID, address: NG_COIL, quantity: 1 });
      assert.equal(peer.coil(NG_COIL), true);
    });

    it("sets and clears the NG coil with fc 5", async function () {
      const node = await load();
      const set = await write(node, { value: true, fc: 5, unitid: UNIT_ID, address: NG_COIL, quantity: 1 });
      assert.equal(writtenValue(set), true, "Flex-Write echoes the written value");
      assert.equal(peer.coil(NG_COIL), true);
      await write(node, { value: false, fc: 5, unitid: UNIT_ID, address: NG_COIL, quantity: 1 });
      assert.equal(peer.coil(NG_COIL), false);
      assert.equal(peer.coil(NG_COIL + 1), undefined, "no neighbouring coil written");
      assert.deepEqual(peer.writes, [
        { kind: "coil", address: NG_COIL, unitId: UNIT_ID, values: [true] },
        { kind: "coil", address: NG_COIL, unitId: UNIT_ID, values: [false] },
      ]);
    });

    it("writes the status/score/regions/sequence block with fc 16", async function () {
      const node = await load();
      const out = await write(node, { value: BLOCK, fc: 16, unitid: UNIT_ID, address: REGISTER_BLOCK, quantity: BLOCK.length });
      assert.deepEqual(writtenValue(out), BLOCK);
      assert.deepEqual(peer.registers(REGISTER_BLOCK, BLOCK.length + 1), [...BLOCK, undefined]);
      assert.deepEqual(peer.writes, [{ kind: "registers", address: REGISTER_BLOCK, unitId: UNIT_ID, values: BLOCK }]);
    });

    it("refuses a block whose quantity does not match its values, and the server sees nothing", async function () {
      const node = await load();
      const out = nextMessage(getNode("out"));
      node.receive({ payload: { value: BLOCK, fc: 16, unitid: UNIT_ID, address: REGISTER_BLOCK, quantity: BLOCK.length - 1 } });
      const error = (await out)["error"] as Error | undefined;
      assert.match(String(error?.message), /^Quantity should be less or equal to register payload array length: 4/);
      assert.deepEqual(peer.writes, []);
    });
  });

  describe("OPC-UA: OpcUa-Client write into a node-opcua server", function () {
    let opcuaNodes: NodeInitializer[] = [];
    let peer: OpcuaPeer;
    before(async function () {
      opcuaNodes = await loadOpcuaNodes();
    });

    async function load(): Promise<Node> {
      const started = await startOpcuaPeer();
      peer = started;
      afterUnload(() => started.stop());
      const flow: FlowItem[] = opcuaWriter({ endpoint: "ep", client: "plc", wires: [["out"], [], []] }, peer.endpointUrl);
      await helper.load(opcuaNodes, onTab([...flow, { id: "out", type: "helper" }]));
      await waitForOpcuaSession(getNode("plc"));
      return getNode("plc");
    }

    it("writes Boolean, Double, UInt16 and UInt32 variables addressed by string NodeIds", async function () {
      const client = await load();
      const messages = [
        { topic: nodeIdOf("NG"), datatype: "Boolean", payload: true },
        { topic: nodeIdOf("Score"), datatype: "Double", payload: 0.873 },
        { topic: nodeIdOf("StatusWord"), datatype: "UInt16", payload: 0b10010 },
        { topic: nodeIdOf("RegionCount"), datatype: "UInt32", payload: 3 },
        { topic: nodeIdOf("Sequence"), datatype: "UInt32", payload: 70_000 },
      ];
      const results = collectMessages(getNode("out"), messages.length);
      for (const msg of messages) client.receive(msg);
      assert.deepEqual(
        (await results).map(statusName),
        messages.map(() => "Good"),
      );
      assert.deepEqual(
        (["NG", "Score", "StatusWord", "RegionCount", "Sequence", "OK"] as const).map((signal) => peer.value(signal)),
        [true, 0.873, 0b10010, 3, 70_000, undefined],
      );
      assert.deepEqual(
        peer.writes.map((w) => w.dataType),
        ["Boolean", "Double", "UInt16", "UInt32", "UInt32"],
      );
    });

    it("reports the server's refusal when the datatype does not match the variable", async function () {
      const client = await load();
      const result = nextMessage(getNode("out"));
      client.receive({ topic: nodeIdOf("NG"), datatype: "UInt16", payload: 1 });
      assert.equal(statusName(await result), "BadTypeMismatch");
      assert.equal(peer.value("NG"), undefined);
    });
  });
});
