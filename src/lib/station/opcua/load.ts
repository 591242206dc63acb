/**
 * node-opcua is an optional peer dependency: a flow without a vision station never loads it
 * (it is large and starts slowly), and an installation without it still runs every other node.
 * The station requires it when deployed and says what to install when it is missing.
 */
import { DefectError } from "../../errors";

export type NodeOpcua = typeof import("node-opcua");

export const OPCUA_PACKAGE = "node-opcua";

/** `load` is Node's require; tests pass one that fails as a missing package does. */
export function loadNodeOpcua(load: (id: string) => unknown = require): NodeOpcua {
  try {
    return load(OPCUA_PACKAGE) as NodeOpcua;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Only the package itself missing is the user's to fix; a broken install of it is another error.
    if (code === "MODULE_NOT_FOUND" && String((error as Error).message).includes(`'${OPCUA_PACKAGE}'`)) {
      throw new DefectError(
        "dependencyMissing",
        `The vision station needs the package ${OPCUA_PACKAGE}: run "npm install ${OPCUA_PACKAGE}" in the Node-RED user directory and restart Node-RED`,
        { package: OPCUA_PACKAGE },
        { cause: error },
      );
    }
    throw error;
  }
}
