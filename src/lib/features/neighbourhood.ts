/**
 * PatchCore's local neighbourhood: each layer's features averaged over p x p positions (stride 1)
 * before the layers are joined and searched (patch-head.ts), one window a layer. The paper's 3 x 3
 * lets a patch carry its surroundings, which helps when a defect is larger than a feature cell;
 * 1 x 1 keeps each patch alone, so a small defect is not diluted by the good texture around it.
 */
import { EMBEDDED_BACKBONE } from "./embedded";

export const PATCH_WINDOWS = [1, 3] as const;
export type PatchWindow = (typeof PATCH_WINDOWS)[number];
/** Each layer's window, in the order of the layers (the finest, which sets the patch grid, first). */
export type Neighbourhood = readonly PatchWindow[];

/**
 * The Neighbourhood option: one window for every layer ("1", "3"), or "1,3": the finest layer
 * alone and every coarser one averaged over 3 x 3.
 */
export const NEIGHBOURHOOD_CHOICES = ["1", "3", "1,3"] as const;
export type NeighbourhoodChoice = (typeof NEIGHBOURHOOD_CHOICES)[number];

export function isPatchWindow(value: unknown): value is PatchWindow {
  return PATCH_WINDOWS.some((w) => w === value);
}

/** The windows of `layers` layers for a choice. */
export function neighbourhoodOf(choice: NeighbourhoodChoice, layers: number): Neighbourhood {
  return Array.from({ length: layers }, (_, i): PatchWindow => (choice === "1" || (choice === "1,3" && i === 0) ? 1 : 3));
}

/** Every layer averaged as models saved before the record were. */
export function recordedBefore(layers: number): Neighbourhood {
  return neighbourhoodOf("3", layers);
}

export function describeNeighbourhood(windows: Neighbourhood): string {
  return windows.map((w) => `${w} x ${w}`).join(", ");
}

/**
 * The choice under "auto": the finest layer alone and the others 3 x 3 for PatchCore learning
 * from good parts with an ImageNet backbone, chosen on the training-data validations of
 * magnetic_tile and casting (mean recall at 1 % and 5 % FRR 0.847 against 0.753 with every layer
 * 1 x 1 and 0.702 with every layer 3 x 3, above both in every bootstrap resample; BENCHMARKS.md
 * "The finest layer alone by default"). With the embedded backbone the same validation keeps 3 x 3
 * (0.377 against 0.363 for 1 x 1), and so does the few-shot check on the shots alone (mean image
 * AUROC 0.761 against 0.687).
 */
export function neighbourhoodByDefault(method: string, fewShot: boolean, backbone: string): NeighbourhoodChoice {
  return method === "patchcore" && !fewShot && backbone !== EMBEDDED_BACKBONE ? "1,3" : "3";
}
