/** From parsed options to the method behind the detector, with paths resolved. */
import { join } from "node:path";
import { EMBEDDED_BACKBONE } from "../../features/embedded";
import type { SessionOptions } from "../../onnx";
import { MODEL_FILE_EXTENSION } from "../../persist";
import { resolveSourcePath } from "../../source/read-file";
import { openAnomalibMethod } from "./anomalib-method";
import type { DetectorOptions } from "../options";
import { openPadimMethod } from "./padim-method";
import { openPatchCoreMethod } from "./patchcore-method";
import { openSupervisedMethod } from "./supervised-method";
import { openTemplateMethod } from "./template-method";
import type { MethodHandle } from "../types";

/** Folder of learned models under the Node-RED user directory. */
export const MODEL_FOLDER = "defect-detection";

/** Where a detector's learned model lives: one file per node id, which survives restarts. */
export function modelFilePath(baseDir: string, nodeId: string): string {
  // Node ids are hex (older flows: "abc.def"); anything else must not reach the path.
  const safe = nodeId.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return join(baseDir, MODEL_FOLDER, `${safe}${MODEL_FILE_EXTENSION}`);
}

/** What only an evaluation asks of a method, beyond the node's options. */
export interface MethodExtras {
  /** PatchCore: false to skip the learned images' leave-one-out scores at each fit (default: computed and handed over). */
  leaveOneOut?: boolean;
}

export async function openMethod(options: DetectorOptions, baseDir: string, extras: MethodExtras = {}): Promise<MethodHandle> {
  const session: SessionOptions = options.threads === undefined ? {} : { intraOpThreads: options.threads };
  // "embedded" names the built-in backbone, not a file in the user directory.
  const backbone = options.backbone === EMBEDDED_BACKBONE ? EMBEDDED_BACKBONE : resolveSourcePath(options.backbone, baseDir);
  switch (options.method) {
    case "patchcore":
      return openPatchCoreMethod({
        setting: options.setting,
        backbone,
        layers: options.layers,
        options: options.patchcore,
        defectWeight: options.defectWeight,
        appearanceWeight: options.appearanceWeight,
        lookalikes: options.lookalikes,
        placeWeights: options.placeWeights,
        augment: options.augment,
        standardize: options.standardize,
        evenExposure: options.evenExposure,
        neighbourhood: options.neighbourhood,
        normalisation: options.folderPreprocess,
        session,
        leaveOneOut: extras.leaveOneOut !== false,
      });
    case "padim":
      return openPadimMethod({
        setting: options.setting,
        backbone,
        layers: options.layers,
        options: options.padim,
        evenExposure: options.evenExposure,
        normalisation: options.folderPreprocess,
        session,
      });
    case "anomalib":
      return openAnomalibMethod({ setting: options.setting, modelFile: resolveSourcePath(options.modelFile, baseDir), session });
    case "onnx":
      return openSupervisedMethod({
        setting: options.setting,
        modelFile: resolveSourcePath(options.modelFile, baseDir),
        namesFile: options.supervised.namesFile === "" ? "" : resolveSourcePath(options.supervised.namesFile, baseDir),
        options: options.supervised,
        session,
      });
    case "template":
      return openTemplateMethod({ setting: options.setting, options: options.template });
  }
}
