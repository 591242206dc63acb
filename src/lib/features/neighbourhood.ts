/**
 * PatchCore's local neighbourhood: each layer's features averaged over p x p positions (stride 1)
 * before the layers are joined and searched (patch-head.ts). The paper's 3 x 3 lets a patch carry
 * its surroundings, which helps when a defect is larger than a feature cell; 1 x 1 keeps each
 * patch alone, so a small defect is not diluted by the good texture around it.
 */
import { EMBEDDED_BACKBONE } from "./embedded";

export const NEIGHBOURHOODS = [1, 3] as const;
export type Neighbourhood = (typeof NEIGHBOURHOODS)[number];

/** What models saved before the neighbourhood was recorded were learned with. */
export const RECORDED_BEFORE_NEIGHBOURHOOD: Neighbourhood = 3;

export function isNeighbourhood(value: unknown): value is Neighbourhood {
  return NEIGHBOURHOODS.some((n) => n === value);
}

/**
 * The neighbourhood under "auto": 1 x 1 for PatchCore learning from good parts with an ImageNet
 * backbone, chosen on the training-data validations of magnetic_tile and casting (mean recall at
 * 1 % and 5 % FRR 0.753 against 0.702 with 3 x 3, above it in every bootstrap resample; the
 * leave-one-out promise kept better; BENCHMARKS.md "The patch neighbourhood"). The datasets
 * disagree: casting's defects gain, magnetic_tile's lose at 1 %. With the embedded backbone the
 * same validation keeps 3 x 3 (0.377 against 0.363), and so does the few-shot check on the shots
 * alone (mean image AUROC 0.761 against 0.687; BENCHMARKS.md "Each patch alone by default").
 */
export function neighbourhoodByDefault(method: string, fewShot: boolean, backbone: string): Neighbourhood {
  return method === "patchcore" && !fewShot && backbone !== EMBEDDED_BACKBONE ? 1 : 3;
}
