/**
 * A PatchCore memory bank that grows with confirmed parts and stays bounded, and a defect bank
 * of confirmed defects that makes scoring defect-aware (online-scorers.ts).
 *
 * Confirmed-good patch rows are queued; a flush appends them to the bank while it stays within
 * the cap (maxBankSize). When they would pass it, a greedy coreset over bank and queue is
 * selected on a worker thread (fit-worker.ts), down to REFRESH_FILL of the cap so the next
 * parts fit again without another refresh at once. Inspections lease the scorer of the bank
 * installed now, so they keep using the previous bank until the refreshed one is swapped in,
 * and the bank they see never holds more rows than the cap. Parts confirmed while a refresh
 * runs wait in the queue (bounded: beyond the cap, random whole parts are dropped) and are
 * added after the swap.
 *
 * A confirmed defect's rows join the defect bank at once; the next flush (the save that answers
 * the verdict) builds the defect bank's nearest search and installs it with the good scorer it
 * was built for, in one swap, so inspections go on leasing the previous pair meanwhile. Installs
 * run one at a time, so a background refresh and a defect confirmed during it never install a
 * pair that forgets the other's change.
 *
 * A confirmed defect with a region (boxes or a mask on its patch grid) teaches the patch head
 * instead of the defect bank: its region patches are positives, every 8th of its other patches
 * and the good bank's rows negatives (region-head.ts). The flush that follows fits the head again
 * on a worker thread (fit-worker.ts) over every labelled part, and installs it with the scorers in
 * the same swap, so the verdict is answered once the head that holds it scores. The fitted head is
 * saved with the labelled rows and the revision it was fitted on; a file whose head is older than
 * its labelled parts (saved between a verdict and its fit) is fitted again when opened.
 *
 * The good parts' appearance (appearance.ts), where the fit learned one, scores with every pair;
 * a confirmed good part adds its mean features to it at once, installed with the next pair (the
 * flush that adds its rows), so a part confirmed good after a false reject for its look as a whole
 * is not rejected for it again.
 */
import { PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import { DefectError } from "../../errors";
import type { PatchExtractor } from "../../features/extractor";
import type { PatchEmbedding } from "../../features/types";
import type { Tensor } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import { Rng } from "../../random";
import type { DriftRecord } from "./drift";
import { ModelSlot } from "../storage/model-slot";
import { buildBankOffThread, fitHeadOffThread } from "../fit/off-thread";
import {
  BankScorers,
  DEFAULT_DEFECT_WEIGHT,
  openDefectSearch,
  Shared,
  type OnlineScores,
  type TensorInspection,
  type WeightedAppearance,
} from "./online-scorers";
import { meanFeatures, withConfirmedGood, type Appearance } from "../../anomaly/patchcore/appearance";
import { HEAD_L2, openHeadScorer, regionRows, type HeadScorer } from "../../anomaly/patchcore/region-head";
import { freshSnapshot, type FittedHead, type LabelledPart, type OnlineCounters, type OnlineSnapshot } from "../storage/online-store";
import type { OnlineCounts, PartFeatures, Verdict } from "../types";
import { expandTensor, type KeptImage } from "./kept-calibration";
import { concatFloat32 } from "../../float32-concat";

/** What a fit learned beside its bank, and the weights to score with (OnlineBank.fitted). */
export interface FitLearned {
  defectWeight?: number;
  appearance?: Appearance | null;
  appearanceWeight?: number;
  kept?: readonly KeptImage[];
  places?: Float32Array | null;
}

/** A refresh leaves the bank at this fraction of the cap: room for new parts before the next. */
export const REFRESH_FILL = 0.8;
/** A confirmed defect adds its highest-scoring patches (the defect region) to the defect bank. */
export const DEFECT_PATCH_FRACTION = 0.05;
/**
 * onnxruntime threads of the refresh worker: one, so a refresh never takes the cores that
 * inspections use; it only has to finish before the queue fills, not fast.
 */
export const REFRESH_THREADS = 1;
/**
 * Good-bank rows a head fit takes as negatives at most, evenly spread beyond it (a 200-image bank
 * at the default coreset holds 10,240: every 2nd). Chosen on deeppcb's training boards
 * (experiments/patch-head-validation.mjs, held-out boards, weight 1): all 8,192 rows of a 160-board
 * bank caught 0.975 / 0.975 of the defective boards at 5 % / 1 % false rejects, every 2nd row
 * 0.975 / 0.950 in a third of the time, every 8th 0.975 / 0.825. The fit's time grows with its
 * rows: a full 40,000-row bank would take five times as long as this cap.
 */
export const MAX_HEAD_BANK_NEGATIVES = 8192;
/** Seed of the choice of queued parts dropped when the queue is full (reproducible runs). */
const DROP_SEED = 0x5eed;

/** The good bank's rows a head fit learns as negatives, at most MAX_HEAD_BANK_NEGATIVES. */
function bankNegatives(bank: MemoryBank): Float32Array {
  const { size, dim } = bank;
  if (size <= MAX_HEAD_BANK_NEGATIVES) return bank.data.subarray(0, size * dim);
  const stride = Math.ceil(size / MAX_HEAD_BANK_NEGATIVES);
  const rows = Math.ceil(size / stride);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) out.set(bank.data.subarray(i * stride * dim, (i * stride + 1) * dim), i * dim);
  return out;
}

function released(): DefectError {
  return new DefectError("inferenceFailed", "the memory bank was released (the node was redeployed or shut down)");
}

/** A confirmed defect raises good parts' scores too; with no learned images kept there is nothing to score them on. */
function noKeptImages(): DefectError {
  return new DefectError(
    "noKeptImages",
    "the model keeps no learned images (saved by an earlier version, or merged from other banks), so the threshold cannot follow the confirmed defect: " +
      "good parts may now score above it. Calibrate the threshold again on good parts, or reset the detector and learn again",
  );
}

/** Rows of the `count` highest patch scores, in patch order. */
function topPatches(part: PartFeatures, count: number): Float32Array {
  const order = Array.from({ length: part.patches }, (_, i) => i).sort((a, b) => (part.patchScores[b] as number) - (part.patchScores[a] as number));
  const chosen = order.slice(0, count).sort((a, b) => a - b);
  const rows = new Float32Array(chosen.length * part.dim);
  chosen.forEach((p, i) => rows.set(part.data.subarray(p * part.dim, (p + 1) * part.dim), i * part.dim));
  return rows;
}

export class OnlineBank {
  private readonly slot: ModelSlot<BankScorers>;
  private bank: MemoryBank;
  private pending: Float32Array[];
  /** Queued rows handed to the running refresh: still saved, so a crash loses nothing. */
  private inFlight: Float32Array[] = [];
  private defect: Float32Array[];
  /** Changes of the defect bank, and the one whose search is installed. */
  private defectRevision = 0;
  private defectInstalled = 0;
  /** Confirmed defects with regions, and the head fitted on them (saved together). */
  private labelled: LabelledPart[];
  private labelledRevision: number;
  private head: FittedHead | null;
  private appearance: Appearance | null;
  private readonly kept: readonly KeptImage[];
  /** Place weights the good scorer weighs distances with (place-weights.ts); null: none learned. */
  private readonly places: Float32Array | null;
  /** Installs in progress, chained so they run one at a time. */
  private installs: Promise<void> = Promise.resolve();
  private refreshing: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private readonly listeners: Array<() => void> = [];
  private readonly problems: Array<(error: unknown) => void> = [];
  private readonly drops = new Rng(DROP_SEED);
  /** Readies a pair for inspections before it is installed (see prepareWith). */
  private preparer: ((pair: BankScorers) => Promise<void>) | undefined;
  counters: OnlineCounters;
  drift: DriftRecord;

  private constructor(
    snapshot: OnlineSnapshot,
    private readonly options: PatchCoreOptions,
    private readonly session: SessionOptions,
    /** Weight of the defect evidence in scores; 0 keeps the defect bank out of scoring. */
    private readonly defectWeight: number,
    /** Weight of the appearance term (appearance.ts); 0 keeps the appearance model out of scoring. */
    private readonly appearanceWeight: number,
  ) {
    this.slot = new ModelSlot((error) => this.report(error));
    this.bank = snapshot.bank;
    this.pending = snapshot.pending.length > 0 ? [snapshot.pending] : [];
    this.defect = snapshot.defect.length > 0 ? [snapshot.defect] : [];
    this.labelled = [...snapshot.labelled];
    this.labelledRevision = snapshot.labelledRevision;
    this.head = snapshot.head;
    this.appearance = snapshot.appearance;
    this.kept = snapshot.kept;
    this.places = snapshot.places;
    this.counters = { ...snapshot.counters };
    this.drift = snapshot.drift;
  }

  static async open(
    snapshot: OnlineSnapshot,
    options: PatchCoreOptions,
    session: SessionOptions,
    defectWeight: number = DEFAULT_DEFECT_WEIGHT,
    appearanceWeight = 0,
  ): Promise<OnlineBank> {
    const online = new OnlineBank(snapshot, options, session, defectWeight, appearanceWeight);
    const good = new Shared(await PatchCoreScorer.open(snapshot.bank, options, session, snapshot.places));
    let head: Shared<HeadScorer> | null = null;
    try {
      // Saved between a verdict and the fit that followed it, or merged: fitted now, so nothing labelled is left out.
      if (online.headStale(online.labelledRevision)) online.head = await online.fitHead(snapshot.bank, online.labelled, online.labelledRevision);
      head = await online.openHead(online.head);
      const defect = await openDefectSearch(online.defect, snapshot.bank, defectWeight, session);
      online.slot.replace(new BankScorers(good, defect, defectWeight, head, online.weightedAppearance()));
    } catch (error) {
      await good.drop();
      await head?.drop();
      throw error;
    }
    return online;
  }

  /** A bank just fitted (with what else the fit learned, if anything): nothing learned on the line yet. */
  static fitted(bank: MemoryBank, options: PatchCoreOptions, session: SessionOptions, learned: FitLearned = {}): Promise<OnlineBank> {
    const snapshot = freshSnapshot(bank, { appearance: learned.appearance ?? null, kept: learned.kept ?? [], places: learned.places ?? null });
    return OnlineBank.open(snapshot, options, session, learned.defectWeight, learned.appearanceWeight ?? 0);
  }

  /**
   * The appearance model pairs score with now; null without one, or at weight 0 (kept and saved,
   * not used) unless its look-alikes calibrate scores: the model's leave-one-out scores were adjusted by them.
   */
  private weightedAppearance(): WeightedAppearance | null {
    if (this.appearance === null) return null;
    return this.appearanceWeight > 0 || this.appearance.lookalikes !== undefined ? { model: this.appearance, weight: this.appearanceWeight } : null;
  }

  get cap(): number {
    return this.options.maxBankSize;
  }

  get dim(): number {
    return this.bank.dim;
  }

  /**
   * Scores against the banks installed now (defect-aware when the defect bank is in use); the
   * map is blurred as the scorer's options say.
   */
  /** An image scored from its tensor by the current pair (BankScorers.inspect). */
  async inspect(extractor: PatchExtractor, tensor: Tensor, width: number, height: number, withEmbedding: boolean): Promise<TensorInspection> {
    const lease = this.slot.acquire();
    if (lease === undefined) throw released();
    try {
      return await lease.value.inspect(extractor, tensor, width, height, withEmbedding);
    } finally {
      lease.release();
    }
  }

  async score(embedding: PatchEmbedding, width: number, height: number): Promise<OnlineScores> {
    const lease = this.slot.acquire();
    if (lease === undefined) throw released();
    try {
      return await lease.value.score(embedding, width, height);
    } finally {
      lease.release();
    }
  }

  /**
   * The kept learned images scored as the pair installed now scores (BankScorers.leftOutScore),
   * in order; undefined when the pair adds nothing to their handed scores (no confirmed defect
   * is in use); noKeptImages when it does and none are kept. Each image is embedded again, one at
   * a time, on the backbone's worker.
   */
  async leftOutScores(extractor: PatchExtractor): Promise<number[] | undefined> {
    const kept = this.kept;
    const lease = this.slot.acquire();
    if (lease === undefined) throw released();
    try {
      if (!lease.value.needsFeatures) return undefined;
      if (kept.length === 0) throw noKeptImages();
      const scores: number[] = [];
      for (const image of kept) {
        if (this.stop.signal.aborted) throw released();
        scores.push(await lease.value.leftOutScore(await extractor.embed(expandTensor(image.tensor)), image));
      }
      return scores;
    } finally {
      lease.release();
    }
  }

  add(verdict: Verdict, part: PartFeatures, region?: Uint8Array): void {
    if (part.dim !== this.bank.dim) {
      throw new DefectError("inputShapeMismatch", `the part's features have ${part.dim} values, the memory bank ${this.bank.dim}`, {
        expected: this.bank.dim,
        actual: part.dim,
      });
    }
    this.counters = { ...this.counters, updated: new Date().toISOString() };
    if (verdict === "good") {
      this.counters.shotsLearned += 1;
      this.pending.push(part.data.subarray(0, part.patches * part.dim));
      if (this.appearance !== null) this.appearance = withConfirmedGood(this.appearance, meanFeatures(part));
      this.trim(this.pending, (chunks) => this.drops.int(0, chunks.length - 1));
    } else if (region !== undefined) {
      this.counters.defectsLearned += 1;
      this.labelled.push(regionRows({ embedding: part, region }));
      // The oldest labelled parts go first beyond the cap, as the defect bank's.
      while (this.labelled.length > 1 && this.labelledRows() > this.cap) this.labelled.shift();
      this.labelledRevision += 1;
    } else {
      this.counters.defectsLearned += 1;
      this.defect.push(topPatches(part, Math.max(1, Math.ceil(part.patches * DEFECT_PATCH_FRACTION))));
      // Defects are few; when they are not, the oldest go first.
      this.trim(this.defect, () => 0);
      this.defectRevision += 1;
    }
  }

  /**
   * Appends queued rows that fit under the cap, or starts a refresh when they do not, and
   * installs the defect bank's search when defects were confirmed since the last one.
   */
  async flush(): Promise<void> {
    if (this.stop.signal.aborted) return;
    const rows = this.rowsOf(this.pending);
    if (rows > 0 && this.refreshing === undefined) {
      const { size, dim } = this.bank;
      if (size + rows > this.cap) {
        this.startRefresh();
      } else {
        const data = concatFloat32([this.bank.data.subarray(0, size * dim), ...this.pending]);
        this.pending = [];
        // The search projection of the fit stays: a few more rows hardly move the principal subspace.
        await this.install({ data, size: size + rows, dim, projection: this.bank.projection });
      }
    }
    if (this.defectRevision !== this.defectInstalled || this.headStale(this.labelledRevision)) await this.install(undefined);
  }

  counts(): OnlineCounts {
    return {
      good: this.bank.size,
      pending: this.rowsOf(this.pending) + this.rowsOf(this.inFlight),
      defect: this.rowsOf(this.defect),
      labelled: this.labelled.length,
      shotsLearned: this.counters.shotsLearned,
      defectsLearned: this.counters.defectsLearned,
      version: this.counters.version,
      updated: this.counters.updated,
      refreshing: this.refreshing !== undefined,
    };
  }

  snapshot(): OnlineSnapshot {
    return {
      bank: this.bank,
      pending: concatFloat32([...this.inFlight, ...this.pending]),
      defect: concatFloat32(this.defect),
      counters: { ...this.counters },
      drift: this.drift,
      labelled: [...this.labelled],
      labelledRevision: this.labelledRevision,
      head: this.head,
      appearance: this.appearance,
      kept: this.kept,
      places: this.places,
    };
  }

  onSwap(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** A failed background refresh or release (it happens after the message that caused it). */
  onError(listener: (error: unknown) => void): void {
    this.problems.push(listener);
  }

  private report(error: unknown): void {
    for (const listener of this.problems) listener(error);
  }

  async idle(): Promise<void> {
    while (this.refreshing !== undefined) await this.refreshing;
  }

  async release(): Promise<void> {
    this.stop.abort();
    await this.refreshing;
    await this.installs;
    await this.slot.close();
  }

  private labelledRows(): number {
    return this.labelled.reduce((n, p) => n + (p.positive.length + p.negative.length) / this.bank.dim, 0);
  }

  /** Whether the fitted head misses labelled parts up to `revision` (or outlived them). */
  private headStale(revision: number): boolean {
    return this.labelled.length === 0 ? this.head !== null : this.head?.revision !== revision;
  }

  /** A head over `labelled`, with `bank`'s rows as good patches, on a worker thread; null without labelled parts. */
  private async fitHead(bank: MemoryBank, labelled: readonly LabelledPart[], revision: number): Promise<FittedHead | null> {
    if (labelled.length === 0) return null;
    const classifier = await fitHeadOffThread(
      labelled.map((p) => p.positive),
      [bankNegatives(bank), ...labelled.map((p) => p.negative)],
      bank.dim,
      HEAD_L2,
      this.stop.signal,
    );
    return { classifier, revision };
  }

  /** The head's scorer for the triple, or null: none fitted, or weight 0 (kept and saved, not used). */
  private async openHead(head: FittedHead | null): Promise<Shared<HeadScorer> | null> {
    if (head === null || this.defectWeight === 0) return null;
    return new Shared(await openHeadScorer(head.classifier, this.session));
  }

  private rowsOf(chunks: readonly Float32Array[]): number {
    return chunks.reduce((sum, c) => sum + c.length, 0) / this.bank.dim;
  }

  /** Keeps a queue within the cap by dropping whole parts, `pick` choosing which. */
  private trim(chunks: Float32Array[], pick: (chunks: Float32Array[]) => number): void {
    while (chunks.length > 1 && this.rowsOf(chunks) > this.cap) chunks.splice(pick(chunks), 1);
  }

  private startRefresh(): void {
    const { size, dim } = this.bank;
    const chunks = [this.bank.data.subarray(0, size * dim), ...this.pending];
    this.inFlight = this.pending;
    this.pending = [];
    const target = Math.max(1, Math.floor(this.cap * REFRESH_FILL));
    const options: PatchCoreOptions = { ...this.options, coresetRatio: 1, maxBankSize: target };
    const session: SessionOptions = { ...this.session, intraOpThreads: REFRESH_THREADS };
    this.refreshing = buildBankOffThread(chunks, dim, options, session, this.stop.signal)
      .then(async (bank) => {
        if (this.stop.signal.aborted) return false;
        await this.install(bank);
        this.inFlight = [];
        return true;
      })
      .catch((error: unknown) => {
        // Nothing confirmed is lost: the parts go back to the queue for the next flush.
        this.pending = [...this.inFlight, ...this.pending];
        this.inFlight = [];
        if (!this.stop.signal.aborted) this.report(error);
        return false;
      })
      .then((swapped) => {
        this.refreshing = undefined;
        // Listeners save the new bank and flush what was queued meanwhile.
        if (swapped) for (const listener of this.listeners) listener();
      });
  }

  /** Installs a new good bank (with a defect search built for it), or, given none, the defect search alone. */
  private install(bank: MemoryBank | undefined): Promise<void> {
    const run = this.installs.then(() => this.installNow(bank));
    this.installs = run.catch(() => undefined);
    return run;
  }

  private async installNow(next: MemoryBank | undefined): Promise<void> {
    const current = this.slot.value;
    if (current === undefined || this.stop.signal.aborted) return;
    const bank = next ?? this.bank;
    // A new good bank may search another subspace: its defect search is always built for it.
    const good = next === undefined ? current.good.retain() : new Shared(await PatchCoreScorer.open(next, this.options, this.session, this.places));
    // Read together (openDefectSearch copies the rows before it awaits anything; the head fit takes this list).
    const revision = this.defectRevision;
    const labelledRevision = this.labelledRevision;
    const labelled = [...this.labelled];
    let fitted = this.head;
    let head: Shared<HeadScorer> | null = null;
    let pair: BankScorers;
    try {
      if (this.headStale(labelledRevision)) {
        fitted = await this.fitHead(bank, labelled, labelledRevision);
        head = await this.openHead(fitted);
      } else {
        head = current.head?.retain() ?? null;
      }
      const defect = await openDefectSearch(this.defect, bank, this.defectWeight, this.session);
      pair = new BankScorers(good, defect, this.defectWeight, head, this.weightedAppearance());
    } catch (error) {
      await good.drop();
      await head?.drop();
      throw error;
    }
    if (this.stop.signal.aborted) {
      await pair.release();
      return;
    }
    // Best effort: a graph that fails to build now is built, or fails, at the next inspection.
    await this.preparer?.(pair).catch(() => undefined);
    this.bank = bank;
    this.defectInstalled = revision;
    this.head = fitted;
    this.slot.replace(pair);
  }

  /**
   * `prepare` readies the installed pair now and every later one before it replaces the current:
   * a bank learned on the line then does not build its scoring graph in an inspection.
   */
  async prepareWith(prepare: (pair: BankScorers) => Promise<void>): Promise<void> {
    this.preparer = prepare;
    const lease = this.slot.acquire();
    if (lease === undefined) return;
    try {
      await prepare(lease.value).catch(() => undefined);
    } finally {
      lease.release();
    }
  }
}
