// Prints the vision station's address space as an OPC UA client browses it: the station core and
// its OPC UA server from dist/ (run `npm run build` first) on 127.0.0.1, a real node-opcua client,
// the VisionSystem object walked by hierarchical references, each method with its arguments.
// Nothing but 127.0.0.1 is touched; the server's certificate goes to a temp folder removed at the end.
// Usage: node scripts/station-browse.mjs [depth]   (README's listing: depth 3)
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const opcua = require("node-opcua");
const { createStation } = require("../dist/lib/station");
const { startVisionServer } = require("../dist/lib/station/opcua/server");

const depth = Number(process.argv[2] ?? 3);
// Children of states and transitions (their numbers and links) and method argument variables add nothing a reader needs.
const HIDDEN = new Set(["InputArguments", "OutputArguments", "StateNumber", "TransitionNumber"]);

const pki = mkdtempSync(join(tmpdir(), "station-browse-"));
const station = createStation({ recipes: ["part-A"], maxResults: 10 }, { stateChanged() {}, job() {}, result() {} });
const server = await startVisionServer(
  opcua,
  { port: 0, host: "127.0.0.1", path: "/UA/DefectVisionStation", pkiFolder: pki, applicationName: "browse" },
  station,
);
const client = opcua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 } });
try {
  await client.connect(server.endpointUrl);
  const session = await client.createSession();
  const namespaces = await session.readNamespaceArray();
  const typeName = async (nodeId) => {
    const typeDef = await session.browse({ nodeId, referenceTypeId: "HasTypeDefinition", browseDirection: opcua.BrowseDirection.Forward, resultMask: 63 });
    const ref = typeDef.references?.[0];
    return ref ? ref.browseName.name : "";
  };
  const args = async (nodeId, name) => {
    const found = await session.translateBrowsePath(opcua.makeBrowsePath(nodeId, `.${name}`));
    const target = found.targets?.[0]?.targetId;
    if (!target) return "";
    const value = await session.read({ nodeId: target, attributeId: opcua.AttributeIds.Value });
    return (value.value.value ?? []).map((a) => a.name).join(", ");
  };
  const lines = [];
  const walk = async (nodeId, indent, level) => {
    const result = await session.browse({
      nodeId,
      referenceTypeId: "HierarchicalReferences",
      includeSubtypes: true,
      browseDirection: opcua.BrowseDirection.Forward,
      resultMask: 63,
    });
    const refs = [...(result.references ?? [])].sort((a, b) => a.browseName.name.localeCompare(b.browseName.name));
    for (const ref of refs) {
      const name = ref.browseName.name;
      if (HIDDEN.has(name)) continue;
      const ns = namespaces[ref.browseName.namespaceIndex] === "http://opcfoundation.org/UA/MachineVision" ? "mv:" : "";
      const cls = opcua.NodeClass[ref.nodeClass];
      let text = `${indent}${ns}${name}`;
      if (cls === "Method") text += `(${await args(ref.nodeId, "InputArguments")}) -> (${await args(ref.nodeId, "OutputArguments")})`;
      else text += ` : ${await typeName(ref.nodeId)}`;
      lines.push(text);
      if (cls !== "Method" && level < depth) await walk(ref.nodeId, indent + "  ", level + 1);
    }
  };
  const root = await session.translateBrowsePath(opcua.makeBrowsePath("RootFolder", "/Objects/1:VisionSystem"));
  const visionSystem = root.targets[0].targetId;
  lines.push(
    `Objects/VisionSystem : ${await typeName(visionSystem)}   (${server.endpointUrl.replace(/:\d+\//, ":4840/")}; mv: = ${namespaces.indexOf("http://opcfoundation.org/UA/MachineVision")}:MachineVision)`,
  );
  await walk(visionSystem, "  ", 1);
  console.log(lines.join("\n"));
  await session.close();
} finally {
  await client.disconnect();
  await server.stop();
  rmSync(pki, { recursive: true, force: true });
}
