/**
 * A line that could not be rehearsed (a node refused an image, Node-RED did not start, a wait
 * ran out): the message says what and where, and is all the command prints.
 */
export class LineFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LineFailure";
  }
}
