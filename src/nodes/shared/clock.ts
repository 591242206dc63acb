/** Times shown in node status texts: the Node-RED host's local wall-clock time, to the second. */

const pad = (n: number): string => String(n).padStart(2, "0");

/** "14:03:27": short enough for a status under a node, and what a line operator reads off a clock. */
export function clockTime(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
