/**
 * msg.overlay: the small heat-map image (JPEG or PNG) mask-to-region draws of a part. Read here
 * for the nodes that keep it (the archive); mask-to-region writes it.
 */
import type { MessageView } from "./record";

/** msg.overlay when it is a non-empty Buffer, else undefined. */
export function readOverlay(msg: MessageView): Buffer | undefined {
  const overlay = msg.overlay;
  return Buffer.isBuffer(overlay) && overlay.length > 0 ? overlay : undefined;
}
