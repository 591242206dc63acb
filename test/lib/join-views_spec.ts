/**
 * Joining the views of a part with the clock passed in: the verdict rules, a part judged at its
 * timeout (never OK with a view missing), duplicate, late and unknown views refused without
 * changing what waits, the bound on open parts (the oldest judged early), the memory of judged
 * parts running out, the option checks, and the readers of one view's message.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import { writeJoinedResult } from "../../src/lib/message";
import {
  DEFAULT_JOIN_VIEWS_OPTIONS,
  joinVerdict,
  parseJoinViewsOptions,
  readViewArrival,
  readViewName,
  ViewJoin,
  type JoinViewsOptions,
  type ViewArrival,
} from "../../src/lib/views";

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const OPTIONS: JoinViewsOptions = { views: ["top", "side"], viewProperty: "view", timeoutMs: 5000, maxParts: 3 };

function arrival(partId: string, view: string, verdict: ViewArrival["verdict"], score: number | null = verdict === "NG" ? 0.9 : 0.1): ViewArrival {
  return { partId, view, verdict, score, station: `thr-${view}`, resultId: 7, regions: null, jobId: null, recipe: null, times: null };
}

function code(error: unknown): string {
  assert.ok(error instanceof DefectError, `a DefectError, got ${String(error)}`);
  return error.code;
}

describe("join views: the verdict of several views", function () {
  it("is NG if any view is NG, else UNCERTAIN if any is UNCERTAIN or missing, else OK", function () {
    assert.equal(joinVerdict(["OK", "OK"], 0), "OK");
    assert.equal(joinVerdict(["OK", "NG"], 0), "NG");
    assert.equal(joinVerdict(["UNCERTAIN", "NG"], 0), "NG");
    assert.equal(joinVerdict(["OK", "UNCERTAIN"], 0), "UNCERTAIN");
    assert.equal(joinVerdict(["OK"], 1), "UNCERTAIN");
    assert.equal(joinVerdict(["NG"], 1), "NG");
    assert.equal(joinVerdict([], 2), "UNCERTAIN");
  });

  it("judges a part once all its views arrived, in the order of the options, with the highest score", function () {
    const join = new ViewJoin<string>(OPTIONS);
    assert.deepEqual(join.add(arrival("p1", "side", "NG", 0.8), "m-side", T0), []);
    assert.equal(join.openParts, 1);
    const [part, ...more] = join.add(arrival("p1", "top", "OK", 0.2), "m-top", T0 + 10);
    assert.deepEqual(more, []);
    assert.ok(part);
    assert.equal(part.verdict, "NG");
    assert.equal(part.reason, "complete");
    assert.equal(part.score, 0.8);
    assert.deepEqual(
      part.views.map((v) => v.view),
      ["top", "side"],
    );
    assert.deepEqual(part.ngViews, ["side"]);
    assert.deepEqual(part.missing, []);
    assert.equal(part.message, "m-top", "the message of the view that came last");
    assert.equal(join.openParts, 0);
    assert.equal(join.nextDeadline(), undefined);
  });

  it("keeps parts apart by id, and gives no score when no view had one", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("a", "top", "OK", null), "a1", T0);
    join.add(arrival("b", "top", "NG"), "b1", T0);
    const [a] = join.add(arrival("a", "side", "OK", null), "a2", T0);
    assert.equal(a?.partId, "a");
    assert.equal(a?.verdict, "OK");
    assert.equal(a?.score, null);
    assert.equal(join.openParts, 1);
  });

  it("judges a part at its timeout from the views that arrived: UNCERTAIN, or NG when one is NG, never OK", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("ok", "top", "OK"), "ok-top", T0);
    join.add(arrival("ng", "side", "NG"), "ng-side", T0 + 1000);
    assert.equal(join.nextDeadline(), T0 + 5000);
    assert.deepEqual(join.expire(T0 + 4999), []);
    const [ok] = join.expire(T0 + 5000);
    assert.equal(ok?.verdict, "UNCERTAIN");
    assert.equal(ok?.reason, "timeout");
    assert.deepEqual(ok?.missing, ["side"]);
    assert.equal(join.nextDeadline(), T0 + 6000);
    const [ng] = join.expire(T0 + 7000);
    assert.equal(ng?.verdict, "NG");
    assert.deepEqual(ng?.missing, ["top"]);
    assert.equal(ng?.message, "ng-side");
    assert.equal(join.openParts, 0);
  });

  it("refuses a view that arrives twice for a waiting part, keeping the first", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("p", "top", "NG"), "first", T0);
    assert.throws(
      () => join.add(arrival("p", "top", "OK"), "again", T0 + 1),
      (e) => code(e) === "duplicateView",
    );
    const [part] = join.add(arrival("p", "side", "OK"), "side", T0 + 2);
    assert.equal(part?.verdict, "NG", "the first top view (NG) was kept");
  });

  it("refuses a view of a part judged in the last timeout: duplicateView when it was joined, lateView when it was missing", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("p", "top", "OK"), "t", T0);
    join.add(arrival("p", "side", "OK"), "s", T0 + 1);
    assert.throws(
      () => join.add(arrival("p", "side", "OK"), "s2", T0 + 2),
      (e) => code(e) === "duplicateView",
    );
    join.add(arrival("q", "top", "OK"), "qt", T0);
    assert.equal(join.expire(T0 + 5000).length, 1);
    assert.throws(
      () => join.add(arrival("q", "side", "OK"), "qs", T0 + 5001),
      (e) => code(e) === "lateView",
    );
    assert.equal(join.openParts, 0, "a refused view opens no part");
    // Remembered for one timeout after judging: then the id is a new part (a re-inspection).
    assert.deepEqual(join.add(arrival("q", "side", "OK"), "qs", T0 + 10_000), []);
    assert.equal(join.openParts, 1);
  });

  it("refuses a view not among the expected ones", function () {
    const join = new ViewJoin<string>(OPTIONS);
    assert.throws(
      () => join.add(arrival("p", "bottom", "OK"), "b", T0),
      (e) => code(e) === "unknownView",
    );
    assert.equal(join.openParts, 0);
  });

  it("holds at most maxParts open parts: the next one judges the oldest without its missing views", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("p1", "top", "OK"), "p1", T0);
    join.add(arrival("p2", "top", "NG"), "p2", T0 + 1);
    join.add(arrival("p3", "top", "OK"), "p3", T0 + 2);
    const [evicted, ...rest] = join.add(arrival("p4", "side", "OK"), "p4", T0 + 3);
    assert.deepEqual(rest, []);
    assert.equal(evicted?.partId, "p1");
    assert.equal(evicted?.reason, "evicted");
    assert.equal(evicted?.verdict, "UNCERTAIN");
    assert.deepEqual(evicted?.missing, ["side"]);
    assert.equal(evicted?.message, "p1");
    assert.equal(join.openParts, 3);
    assert.throws(
      () => join.add(arrival("p1", "side", "OK"), "late", T0 + 4),
      (e) => code(e) === "lateView",
    );
  });

  it("remembers at most maxParts judged parts", function () {
    const join = new ViewJoin<string>({ ...OPTIONS, maxParts: 2 });
    for (const id of ["a", "b", "c"]) {
      join.add(arrival(id, "top", "OK"), id, T0);
      join.add(arrival(id, "side", "OK"), id, T0);
    }
    // "a" was forgotten (the oldest of three judged): its view opens a new part.
    assert.deepEqual(join.add(arrival("a", "top", "OK"), "a", T0 + 1), []);
    assert.throws(
      () => join.add(arrival("c", "top", "OK"), "c", T0 + 1),
      (e) => code(e) === "duplicateView",
    );
  });

  it("forgets everything when cleared and says which parts were waiting", function () {
    const join = new ViewJoin<string>(OPTIONS);
    join.add(arrival("w", "top", "OK"), "w", T0);
    assert.deepEqual(join.clear(), ["w"]);
    assert.equal(join.openParts, 0);
    assert.equal(join.nextDeadline(), undefined);
  });

  it("joins three views", function () {
    const join = new ViewJoin<string>({ ...OPTIONS, views: ["top", "left", "right"] });
    join.add(arrival("p", "right", "UNCERTAIN", 0.4), "r", T0);
    assert.deepEqual(join.add(arrival("p", "top", "OK"), "t", T0), []);
    const [part] = join.add(arrival("p", "left", "OK"), "l", T0);
    assert.equal(part?.verdict, "UNCERTAIN");
    assert.deepEqual(part?.ngViews, []);
    assert.equal(part?.score, 0.4);
  });
});

describe("join views: options", function () {
  it("has the defaults of the editor", function () {
    assert.deepEqual(parseJoinViewsOptions({}), DEFAULT_JOIN_VIEWS_OPTIONS);
    assert.deepEqual(parseJoinViewsOptions({ views: " top , side ,front", viewProperty: "camera.name", timeout: "250", maxParts: "7" }), {
      views: ["top", "side", "front"],
      viewProperty: "camera.name",
      timeoutMs: 250,
      maxParts: 7,
    });
  });

  for (const [option, value] of [
    ["views", "top"],
    ["views", "top,,side"],
    ["views", "top,top"],
    ["views", "top,"],
    ["views", Array.from({ length: 33 }, (_, i) => `v${i}`).join(",")],
    ["viewProperty", "a b"],
    ["viewProperty", "1view"],
    ["timeout", "0"],
    ["timeout", "1.5"],
    ["timeout", "3600001"],
    ["timeout", "abc"],
    ["maxParts", "0"],
    ["maxParts", "10001"],
  ] as const) {
    it(`refuses ${option} = "${value}" with invalidOption naming it`, function () {
      assert.throws(
        () => parseJoinViewsOptions({ [option]: value }),
        (e) => code(e) === "invalidOption" && (e as DefectError).details["option"] === option,
      );
    });
  }
});

describe("join views: reading a view's message", function () {
  const record = {
    id: 12,
    station: "thr-top",
    partId: "P-1",
    jobId: "J",
    recipe: null,
    times: { sourceMs: 1, preprocessMs: 2, detectorMs: 30, thresholdMs: 0.5, regionsMs: null },
  };

  it("reads the view from its property, else msg.topic, and refuses none or an unknown one", function () {
    assert.equal(readViewName("top", "side", "view", OPTIONS.views), "top");
    assert.equal(readViewName(undefined, " side ", "view", OPTIONS.views), "side");
    assert.throws(
      () => readViewName(undefined, undefined, "view", OPTIONS.views),
      (e) => code(e) === "unknownView",
    );
    assert.throws(
      () => readViewName("front", undefined, "view", OPTIONS.views),
      (e) => code(e) === "unknownView" && /front/.test((e as Error).message),
    );
  });

  it("reads verdict, score, part id, station, result id, regions and stage times from a threshold node's message", function () {
    const regions = [{ x: 1, y: 2, width: 3, height: 4, area: 9, maxScore: 0.9, centroid: { x: 2, y: 3 }, meanScore: 0.7 }];
    const view = readViewArrival({ payload: { verdict: "NG", score: 0.9, threshold: 0.5 }, result: record, regions }, "top");
    assert.deepEqual(view, {
      view: "top",
      partId: "P-1",
      verdict: "NG",
      score: 0.9,
      station: "thr-top",
      resultId: 12,
      regions: [{ x: 1, y: 2, width: 3, height: 4, area: 9, maxScore: 0.9 }],
      jobId: "J",
      recipe: null,
      times: record.times,
    });
  });

  it("takes the part id from msg.result, else msg.payload.partId, else msg.partId (a number as text)", function () {
    assert.equal(readViewArrival({ payload: { verdict: "OK", partId: "pay" }, partId: "msg" }, "top").partId, "pay");
    assert.equal(readViewArrival({ payload: { verdict: "OK" }, partId: 42 }, "top").partId, "42");
    assert.throws(
      () => readViewArrival({ payload: { verdict: "OK" } }, "top"),
      (e) => code(e) === "noPartId" && /top/.test((e as Error).message),
    );
    assert.throws(
      () => readViewArrival({ payload: { verdict: "OK" }, partId: { a: 1 } }, "top"),
      (e) => code(e) === "invalidOption",
    );
    assert.throws(
      () => readViewArrival({ payload: { score: 1 }, partId: "p" }, "top"),
      (e) => code(e) === "noVerdictInput",
    );
  });

  it("writes the joined record: its own station and id, each view, the missing ones, regions named by view, the longest stage times", function () {
    const msg: Record<string, unknown> = {};
    const top = readViewArrival({ payload: { verdict: "OK", score: 0.1 }, result: record, regions: [] }, "top");
    const side: ViewArrival = {
      ...top,
      view: "side",
      verdict: "NG",
      score: 0.9,
      station: "thr-side",
      resultId: 3,
      regions: [{ x: 5, y: 5, width: 2, height: 2 }],
      times: { ...record.times, detectorMs: 40, regionsMs: 2 },
    };
    const written = writeJoinedResult(msg, {
      id: 1,
      station: "join",
      created: new Date(T0),
      verdict: "NG",
      score: 0.9,
      labels: { partId: "P-1", jobId: "J", recipe: null },
      views: [top, side].map(({ view, verdict, score, station, resultId, regions }) => ({ view, verdict, score, station, resultId, regions })),
      missing: [],
      times: [top.times, side.times],
    });
    assert.equal(msg["result"], written);
    assert.deepEqual(JSON.parse(JSON.stringify(written)), {
      id: 1,
      station: "join",
      partId: "P-1",
      jobId: "J",
      recipe: null,
      created: new Date(T0).toISOString(),
      verdict: "NG",
      score: 0.9,
      times: { sourceMs: 1, preprocessMs: 2, detectorMs: 40, thresholdMs: 0.5, regionsMs: 2 },
      model: null,
      calibration: null,
      regions: [{ x: 5, y: 5, width: 2, height: 2, view: "side" }],
      views: [
        { view: "top", verdict: "OK", score: 0.1, station: "thr-top", resultId: 12, regions: [] },
        { view: "side", verdict: "NG", score: 0.9, station: "thr-side", resultId: 3, regions: [{ x: 5, y: 5, width: 2, height: 2 }] },
      ],
      missing: [],
    });
  });
});
