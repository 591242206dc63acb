/**
 * defect-mask-to-region: turns the defect mask (or the anomaly map and its threshold) into
 * regions on the original image, most severe first, and optionally a small overlay image
 * showing them.
 */
import type { Node, NodeAPI } from "node-red";
import { performance } from "node:perf_hooks";
import { addTiming, completeResult, findMessageImage, isControlAnswer, writeRegions } from "../lib/message";
import { extractRegions, parseRegionOptions, readRegionInput, regionSource, startOverlay, type RegionOptions } from "../lib/regions";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput } from "./shared/input";
import { parseDecodeLimits, svgAllowed } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";
import { attachPreview, detachPreview, registerPreviewAdmin, rememberOverlay } from "./mask-to-region-admin";
import type { MaskToRegionNodeDef } from "./mask-to-region-def";

const TYPE = "defect-mask-to-region";

const STATES = {
  clear: { fill: "green", shape: "dot" },
  found: { fill: "yellow", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

export = function register(RED: NodeAPI): void {
  function MaskToRegionNode(this: Node, config: MaskToRegionNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: RegionOptions;
    try {
      options = parseRegionOptions({ ...config });
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    const overlayFormat = options.overlay;
    const limits = parseDecodeLimits(undefined, svgAllowed(RED));
    // A flow without images (e.g. maps from a test rig) would otherwise warn on every message.
    let warnedNoImage = false;
    attachPreview(node);

    handleInput(node, errors, async (msg, send) => {
      // Learning, calibration and command answers of the nodes before have no mask: passed on.
      if (isControlAnswer(msg.payload)) {
        send(msg);
        return;
      }
      const t0 = performance.now();
      const input = readRegionInput(msg);
      const image = overlayFormat === "none" ? undefined : findMessageImage(msg);
      // The image decodes on sharp's threads while the regions are found here.
      const pending =
        overlayFormat === "none" || image === undefined
          ? undefined
          : startOverlay(image.buffer, regionSource(input), { format: overlayFormat, width: options.overlayWidth, opacity: options.opacity }, limits);
      const result = extractRegions(input, options);
      let overlay: Buffer | undefined;
      if (pending !== undefined) {
        overlay = await pending.finish(result);
      } else if (overlayFormat !== "none" && !warnedNoImage) {
        warnedNoImage = true;
        node.warn(RED._(`${TYPE}.warnings.noImage`));
      }
      // Written only now, so a message that fails above reaches Catch unchanged.
      writeRegions(msg, result.regions);
      if (overlayFormat !== "none") {
        // No image, no overlay: an overlay from an earlier node would show the wrong regions.
        if (overlay === undefined) delete msg["overlay"];
        else msg["overlay"] = overlay;
        rememberOverlay(node, overlay);
      }
      addTiming(msg, "regionsMs", performance.now() - t0);
      // The threshold node's record of this result gets its regions and this node's time.
      completeResult(msg, result.regions);
      const count = result.regions.length;
      status.setText(count === 0 ? "clear" : "found", RED._(`${TYPE}.status.regions`, { count }));
      send(msg);
    });

    node.on("close", (removed: boolean, done: () => void) => {
      detachPreview(node);
      if (removed) status.clear();
      done();
    });
  }

  RED.nodes.registerType(TYPE, MaskToRegionNode);
  registerPreviewAdmin(RED, TYPE);
};
