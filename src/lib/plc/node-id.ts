/**
 * OPC-UA NodeIds in the string form node-red-contrib-opcua takes as msg.topic. The namespace
 * must be explicit: the client ignores a write whose topic does not start with "ns=".
 */
import { invalidOption } from "../config/option-values";

const MAX_NAMESPACE = 65_535;
const MAX_NUMERIC_ID = 4_294_967_295;
const NODE_ID = /^ns=(\d+);(?:i=(\d+)|s=(.+)|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/]+={0,2})$/;
const EXPECTED = "a NodeId ns=<namespace>;s=<name> (or i=<number>, g=<guid>, b=<base64>)";

/** The NodeId, trimmed; throws invalidOption naming `option` when it is not one. */
export function parseNodeId(option: string, value: string): string {
  const id = value.trim();
  const match = NODE_ID.exec(id);
  if (match === null) throw invalidOption(option, EXPECTED, value);
  if (Number(match[1]) > MAX_NAMESPACE) throw invalidOption(option, `${EXPECTED} with a namespace from 0 to ${MAX_NAMESPACE}`, value);
  if (match[2] !== undefined && Number(match[2]) > MAX_NUMERIC_ID) {
    throw invalidOption(option, `${EXPECTED} with a numeric id from 0 to ${MAX_NUMERIC_ID}`, value);
  }
  // The client would cut such a suffix off and use it as the type; the node sets msg.datatype itself.
  if (match[3]?.includes(";datatype=")) throw invalidOption(option, `${EXPECTED} without ";datatype=" (the node sets the type)`, value);
  return id;
}
