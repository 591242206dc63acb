/**
 * From a validated mask (or a map and a threshold) to the regions a message reports, in
 * original image pixels, plus what an overlay needs to draw them.
 */
import { DefectError } from "../errors";
import type { ScoreMap, Transform } from "../image/types";
import { labelComponents, type Connectivity } from "./components";
import { selectRegions, type RegionFilter } from "./filters";
import { contentArea, coversGrid, identityTransform, regionToSource } from "./mapping";
import { regionStatistics } from "./statistics";
import type { Region, RegionInput, Size } from "./types";

export interface ExtractOptions extends RegionFilter {
  connectivity: Connectivity;
}

export interface RegionResult {
  /** Filtered, most severe first, in original image pixels. */
  regions: Region[];
  /** Components found before the area and count filters. */
  found: number;
  /** The original image the regions are placed on. */
  source: Size;
  /** Original image pixels -> the mask grid (identity for original-space input). */
  placement: Transform;
  /** The map to colour, on the mask grid; null without one. */
  map: ScoreMap | null;
  /**
   * Score where the heat colouring starts: the mask's pixel threshold, else msg.payload.threshold,
   * else the lowest score inside any region. Infinity when nothing should be coloured.
   */
  heatStart: number;
}

/** A foreground test that never sees letterbox padding (it has no original pixels to report). */
function foreground(input: RegionInput, grid: Size, placement: Transform): (i: number) => boolean {
  const { mask, map } = input;
  let isSet: (i: number) => boolean;
  if (mask !== undefined) {
    const data = mask.data;
    isSet = (i) => (data[i] as number) !== 0;
  } else {
    // readRegionInput guarantees a map and a threshold when there is no mask.
    const data = (map as ScoreMap).data;
    const threshold = input.threshold as number;
    // ">=" as the verdict: a score equal to the threshold is NG.
    isSet = (i) => (data[i] as number) >= threshold;
  }
  const area = contentArea(placement, grid);
  if (coversGrid(area, grid)) return isSet;
  const w = grid.width;
  return (i) => {
    const x = i % w;
    const y = (i - x) / w;
    return x >= area.x0 && x < area.x1 && y >= area.y0 && y < area.y1 && isSet(i);
  };
}

function modelPlacement(transform: Transform | undefined): Transform {
  if (transform === undefined) {
    throw new DefectError("noTransformInput", 'Data in model pixels (space "model") needs msg.transform to be placed on the image', {
      property: "msg.transform",
    });
  }
  return transform;
}

function gridOf(input: RegionInput): { grid: Size; placement: Transform } {
  const gridSource = input.mask ?? input.map;
  if (gridSource === undefined) throw new TypeError("extractRegions needs a mask or a map (see readRegionInput)");
  const grid: Size = { width: gridSource.width, height: gridSource.height };
  return { grid, placement: gridSource.space === "model" ? modelPlacement(input.transform) : identityTransform(grid) };
}

/** The original image's size the regions of `input` will be placed on (RegionResult.source), before finding them. */
export function regionSource(input: RegionInput): Size {
  return { ...gridOf(input).placement.source };
}

export function extractRegions(input: RegionInput, options: ExtractOptions): RegionResult {
  const { grid, placement } = gridOf(input);
  const components = labelComponents(grid.width, grid.height, foreground(input, grid, placement), options.connectivity);
  const stats = regionStatistics(components, input.map?.data);
  const regions = selectRegions(
    stats.regions.map((r) => regionToSource(placement, grid, r)),
    options,
  );
  const threshold = input.mask !== undefined ? (input.mask.threshold ?? input.threshold) : input.threshold;
  return {
    regions,
    found: components.count,
    source: { ...placement.source },
    placement,
    map: input.map ?? null,
    heatStart: threshold ?? stats.lowestScore,
  };
}
