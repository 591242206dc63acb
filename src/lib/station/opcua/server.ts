/**
 * The station's OPC UA server: node-opcua with the standard, DI and MachineVision nodesets that
 * node-opcua-nodesets ships, the VisionSystem object, security mode None with anonymous sessions
 * (see the node's help), its certificate store in a folder of its own. start() resolves once the
 * port listens; stop() frees it.
 */
import type { OPCUAServer } from "node-opcua";
import { DefectError, describeError } from "../../errors";
import type { StationOptions } from "../options";
import type { Station } from "../station";
import type { NodeOpcua } from "./load";
import { createVisionSystem, type VisionSystem } from "./vision-system";

export interface VisionServer {
  /** e.g. opc.tcp://127.0.0.1:4840/UA/DefectVisionStation */
  readonly endpointUrl: string;
  readonly port: number;
  readonly vision: VisionSystem;
  stop(): Promise<void>;
}

export interface ServerSettings extends Pick<StationOptions, "port" | "host" | "path"> {
  /** Where the server keeps its certificate and the certificates it trusts. */
  pkiFolder: string;
  /** Name clients see (ApplicationDescription). */
  applicationName: string;
}

export async function startVisionServer(opcua: NodeOpcua, settings: ServerSettings, station: Station): Promise<VisionServer> {
  const host = settings.host === "" ? undefined : settings.host;
  const server: OPCUAServer = new opcua.OPCUAServer({
    port: settings.port,
    host,
    // The endpoint URL clients are told; the listening address when one is set.
    hostname: host,
    resourcePath: settings.path,
    securityModes: [opcua.MessageSecurityMode.None],
    securityPolicies: [opcua.SecurityPolicy.None],
    allowAnonymous: true,
    // A station on a line is found by its address, never by asking a discovery server.
    registerServerMethod: opcua.RegisterServerMethod.HIDDEN,
    nodeset_filename: [opcua.nodesets.standard, opcua.nodesets.di, opcua.nodesets.machineVision],
    serverInfo: { applicationName: { text: settings.applicationName }, productUri: "node-red-contrib-defect-detection" },
    serverCertificateManager: new opcua.OPCUACertificateManager({ rootFolder: `${settings.pkiFolder}/server`, automaticallyAcceptUnknownCertificate: true }),
    userCertificateManager: new opcua.OPCUACertificateManager({ rootFolder: `${settings.pkiFolder}/user` }),
  });
  try {
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    if (addressSpace === null) throw new Error("node-opcua built no address space");
    const vision = createVisionSystem(opcua, addressSpace, station);
    vision.showState(station.state);
    await server.start();
    const endpoint = server.endpoints[0];
    const port = endpoint?.port ?? settings.port;
    return {
      endpointUrl: server.getEndpointUrl(),
      port,
      vision,
      stop: () => server.shutdown(0),
    };
  } catch (error) {
    await server.shutdown(0).catch(() => undefined);
    throw new DefectError(
      "serverFailed",
      `The OPC UA server could not start on port ${settings.port}: ${describeError(error)}`,
      {
        port: settings.port,
        reason: describeError(error),
      },
      { cause: error },
    );
  }
}
