/**
 * The alarm state machine with the clock passed in: every rule at its edges (the part that
 * completes N, the part that pushes the oldest out of M, the part exactly T seconds old), latch
 * and acknowledgement, cooldown, reset, and the option and message checks. Events are compared
 * whole, so a change of what a flow receives fails here.
 */
import assert from "node:assert/strict";
import { isControlAnswer } from "../../src/lib/message";
import { DefectError } from "../../src/lib/errors";
import {
  acknowledge,
  alarmActive,
  createAlarmState,
  DEFAULT_ALARM_OPTIONS,
  describeRule,
  feed,
  parseAlarmOptions,
  readCommand,
  readInspection,
  recordError,
  reset,
  type AlarmEvent,
  type AlarmOptions,
  type AlarmState,
  type Inspection,
  type RegionLike,
  type Verdict,
} from "../../src/lib/alarm";

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

function options(overrides: Partial<AlarmOptions> = {}): AlarmOptions {
  return { ...DEFAULT_ALARM_OPTIONS, ...overrides };
}

function part(verdict: Verdict, at: number, extra: Partial<Inspection> = {}): Inspection {
  return { time: T0 + at, verdict, partId: `p${at}`, resultId: null, score: verdict === "NG" ? 0.9 : 0.1, regions: [], ...extra };
}

/** Feeds parts one by one; returns the final state and the events each part produced. */
function run(state: AlarmState, parts: Inspection[]): { state: AlarmState; events: AlarmEvent[][] } {
  const events: AlarmEvent[][] = [];
  for (const p of parts) {
    const step = feed(state, p);
    state = step.state;
    events.push(step.events);
  }
  return { state, events };
}

/** One part a second (at 0, 1000, 2000... ms) with the given verdicts. */
function series(verdicts: string): Inspection[] {
  return [...verdicts].map((c, i) => part(c === "N" ? "NG" : c === "U" ? "UNCERTAIN" : "OK", i * 1000));
}

/** "event:reason" for each event, "-" for a part that produced none. */
function summary(events: AlarmEvent[][]): string[] {
  return events.map((list) => (list.length === 0 ? "-" : list.map((e) => `${e.event}:${e.reason}`).join("|")));
}

function throwsCode(fn: () => unknown, code: string, option?: string): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, code, error.message);
    if (option !== undefined) assert.equal(error.details["option"], option);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("alarm options", function () {
  it("defaults to every NG, latched, no cooldown", function () {
    assert.deepEqual(parseAlarmOptions({}), {
      rule: "ng",
      consecutive: 3,
      ratePercent: 10,
      rateWindow: 100,
      rateSeconds: 60,
      rateMinParts: 10,
      latch: true,
      cooldownMs: 0,
      severity: "critical",
      uncertainAsNg: false,
    });
  });

  it("reads editor strings", function () {
    const parsed = parseAlarmOptions({
      rule: "rate-time",
      consecutive: "5",
      ratePercent: "2.5",
      rateWindow: "50",
      rateSeconds: "0.5",
      rateMinParts: "4",
      latch: false,
      cooldown: "1500",
      severity: "warning",
      uncertainAsNg: "true",
    });
    assert.deepEqual(parsed, {
      rule: "rate-time",
      consecutive: 5,
      ratePercent: 2.5,
      rateWindow: 50,
      rateSeconds: 0.5,
      rateMinParts: 4,
      latch: false,
      cooldownMs: 1500,
      severity: "warning",
      uncertainAsNg: true,
    });
  });

  const bad: Array<[string, Record<string, unknown>]> = [
    ["consecutive", { consecutive: "0" }],
    ["consecutive", { consecutive: "2.5" }],
    ["rateWindow", { rateWindow: "0" }],
    ["rateWindow", { rateWindow: "100001" }],
    ["ratePercent", { ratePercent: "0" }],
    ["ratePercent", { ratePercent: "100.1" }],
    ["ratePercent", { ratePercent: "ten" }],
    ["rateSeconds", { rateSeconds: "0" }],
    ["rateSeconds", { rateSeconds: "-5" }],
    ["rateMinParts", { rateMinParts: "0" }],
    ["cooldown", { cooldown: "-1" }],
    ["rule", { rule: "sometimes" }],
    ["severity", { severity: "fatal" }],
    ["latch", { latch: "yes" }],
  ];
  for (const [option, input] of bad) {
    it(`rejects ${option} = ${JSON.stringify(Object.values(input)[0])} naming the option`, function () {
      throwsCode(() => parseAlarmOptions(input), "invalidOption", option);
    });
  }

  it("says what was expected", function () {
    const error = throwsCode(() => parseAlarmOptions({ ratePercent: "0" }), "invalidOption");
    assert.equal(error.message, 'Option ratePercent must be a number above 0 and at most 100, got "0"');
    assert.equal(error.details["expected"], "a number above 0 and at most 100");
  });

  it("accepts the edges of the ranges: R = 100, N = 1, cooldown 0", function () {
    const parsed = parseAlarmOptions({ ratePercent: "100", consecutive: "1", cooldown: "0" });
    assert.equal(parsed.ratePercent, 100);
    assert.equal(parsed.consecutive, 1);
    assert.equal(parsed.cooldownMs, 0);
  });

  it("describes each rule", function () {
    assert.equal(describeRule(options({ rule: "ng" })), "every NG part");
    assert.equal(describeRule(options({ rule: "consecutive", consecutive: 4 })), "4 consecutive NG");
    assert.equal(describeRule(options({ rule: "rate-count", ratePercent: 12.5, rateWindow: 40 })), "12.5% NG of the last 40 parts");
    assert.equal(describeRule(options({ rule: "rate-time", rateSeconds: 30, rateMinParts: 5 })), "10% NG in the last 30 s (at least 5 parts)");
  });
});

describe("alarm rule ng", function () {
  it("raises a complete alarm event for an NG part", function () {
    const regions: RegionLike[] = [{ x: 10, y: 20, width: 5, height: 4, area: 18, maxScore: 0.97 }];
    const step = feed(createAlarmState(options()), part("NG", 250, { partId: "A-17", resultId: 4711, score: 0.8125, regions }));
    assert.deepEqual(step.events, [
      {
        event: "alarm",
        rule: "ng",
        severity: "critical",
        reason: "NG part",
        evidence: {
          partId: "A-17",
          resultId: 4711,
          score: 0.8125,
          verdict: "NG",
          regions: { count: 1, totalArea: 18, top: [{ x: 10, y: 20, width: 5, height: 4, area: 18, maxScore: 0.97 }] },
        },
        sequence: 1,
        time: iso(250),
      },
    ]);
    assert.equal(alarmActive(step.state), true);
  });

  it("latched: later NG raise nothing until ack; ack ends it; the next NG raises again", function () {
    let state = createAlarmState(options());
    const first = run(state, series("ONNO"));
    assert.deepEqual(summary(first.events), ["-", "alarm:NG part", "-", "-"]);
    state = first.state;
    const acked = acknowledge(state, T0 + 5000);
    assert.equal(acked.events.length, 1);
    const ack = acked.events[0]!;
    assert.equal(ack.event, "acknowledged");
    assert.equal(ack.reason, "NG part");
    assert.equal(ack.evidence.partId, "p1000", "the evidence of the part that raised it");
    assert.equal(ack.sequence, 2);
    assert.equal(ack.time, iso(5000));
    assert.equal(alarmActive(acked.state), false);
    const again = feed(acked.state, part("NG", 6000));
    assert.deepEqual(summary([again.events]), ["alarm:NG part"]);
    assert.equal(again.events[0]!.sequence, 3);
  });

  it("not latched: every NG raises, the next part that is not NG clears", function () {
    const { events, state } = run(createAlarmState(options({ latch: false })), series("NNOO"));
    assert.deepEqual(summary(events), ["alarm:NG part", "alarm:NG part", "cleared:part is OK", "-"]);
    assert.deepEqual(
      events.flat().map((e) => e.sequence),
      [1, 2, 3],
    );
    assert.equal(events[2]![0]!.evidence.partId, "p2000", "cleared names the part that cleared it");
    assert.equal(alarmActive(state), false);
  });

  it("an acknowledgement with nothing latched changes nothing", function () {
    const unlatched = run(createAlarmState(options({ latch: false })), series("N")).state;
    const step = acknowledge(unlatched, T0 + 2000);
    assert.deepEqual(step.events, []);
    assert.equal(alarmActive(step.state), true, "a non-latched alarm clears with its condition, not by ack");
    assert.deepEqual(acknowledge(createAlarmState(options()), T0).events, []);
  });

  it("counts UNCERTAIN as not NG unless told to", function () {
    assert.deepEqual(summary(run(createAlarmState(options()), series("UU")).events), ["-", "-"]);
    const strict = run(createAlarmState(options({ uncertainAsNg: true })), series("U"));
    assert.deepEqual(summary(strict.events), ["alarm:UNCERTAIN part"]);
    assert.equal(strict.events[0]![0]!.evidence.verdict, "UNCERTAIN");
  });

  it("cleared by an UNCERTAIN part says so", function () {
    assert.deepEqual(summary(run(createAlarmState(options({ latch: false })), series("NU")).events), ["alarm:NG part", "cleared:part is UNCERTAIN"]);
  });
});

describe("alarm rule consecutive", function () {
  const three = (overrides: Partial<AlarmOptions> = {}): AlarmState => createAlarmState(options({ rule: "consecutive", consecutive: 3, ...overrides }));

  it("raises at exactly the Nth NG in a row; an OK restarts the count", function () {
    const { events } = run(three(), series("NNONNN"));
    assert.deepEqual(summary(events), ["-", "-", "-", "-", "-", "alarm:3 consecutive NG"]);
    assert.equal(events[5]![0]!.evidence.partId, "p5000");
  });

  it("N = 1 raises at the first NG", function () {
    assert.deepEqual(summary(run(three({ consecutive: 1 }), series("ON")).events), ["-", "alarm:1 consecutive NG"]);
  });

  it("UNCERTAIN breaks the run by default and continues it with uncertainAsNg", function () {
    assert.deepEqual(summary(run(three(), series("NNUN")).events), ["-", "-", "-", "-"]);
    assert.deepEqual(summary(run(three({ uncertainAsNg: true }), series("NNU")).events), ["-", "-", "alarm:3 consecutive NG"]);
  });

  it("not latched: one alarm for a long run, cleared by the first part that is not NG", function () {
    const { events } = run(three({ latch: false }), series("NNNNNO"));
    assert.deepEqual(summary(events), ["-", "-", "alarm:3 consecutive NG", "-", "-", "cleared:0 consecutive NG (alarm at 3)"]);
  });

  it("latched: the OK that ends the run clears nothing; after ack a new run of N is needed", function () {
    let { state, events } = run(three(), series("NNNO"));
    assert.deepEqual(summary(events), ["-", "-", "alarm:3 consecutive NG", "-"]);
    assert.equal(alarmActive(state), true);
    state = acknowledge(state, T0 + 4500).state;
    const after = run(state, [part("NG", 5000), part("NG", 6000), part("NG", 7000)]);
    assert.deepEqual(summary(after.events), ["-", "-", "alarm:3 consecutive NG"]);
  });

  it("latched: acknowledged while NG goes on, the next NG raises again with the run so far", function () {
    let { state } = run(three(), series("NNNN"));
    const acked = acknowledge(state, T0 + 3500);
    assert.equal(acked.events[0]!.reason, "3 consecutive NG");
    state = acked.state;
    assert.deepEqual(summary([feed(state, part("NG", 4000)).events]), ["alarm:5 consecutive NG"]);
  });
});

describe("alarm rule rate-count", function () {
  const rate = (overrides: Partial<AlarmOptions>): AlarmState => createAlarmState(options({ rule: "rate-count", ...overrides }));

  it("counts parts not seen yet as not NG: 1 NG is 1 of M", function () {
    const { events } = run(rate({ ratePercent: 50, rateWindow: 4 }), series("NN"));
    assert.deepEqual(summary(events), ["-", "alarm:2 NG of the last 4 parts (50%, alarm at 50%)"]);
  });

  it("R = 100 % of M = 3 raises at the third NG", function () {
    const { events } = run(rate({ ratePercent: 100, rateWindow: 3 }), series("NNN"));
    assert.deepEqual(summary(events), ["-", "-", "alarm:3 NG of the last 3 parts (100%, alarm at 100%)"]);
  });

  it("an NG stays in the window for exactly M parts: part M + 1 pushes it out", function () {
    const { events } = run(rate({ ratePercent: 50, rateWindow: 4, latch: false }), series("NNOOO"));
    assert.deepEqual(summary(events), [
      "-",
      "alarm:2 NG of the last 4 parts (50%, alarm at 50%)",
      "-",
      "-",
      "cleared:1 NG of the last 4 parts (25%, alarm at 50%)",
    ]);
  });

  it("raises at exactly R %, also for fractional R", function () {
    const { events } = run(rate({ ratePercent: 30, rateWindow: 10 }), series("NNN"));
    assert.deepEqual(summary(events), ["-", "-", "alarm:3 NG of the last 10 parts (30%, alarm at 30%)"]);
    const thirds = run(rate({ ratePercent: 33.3, rateWindow: 3 }), series("N"));
    assert.deepEqual(summary(thirds.events), ["alarm:1 NG of the last 3 parts (33.3%, alarm at 33.3%)"]);
  });

  it("a rate that keeps holding raises once", function () {
    const { events } = run(rate({ ratePercent: 25, rateWindow: 4, latch: false }), series("NNNNN"));
    assert.deepEqual(
      summary(events).filter((s) => s !== "-"),
      ["alarm:1 NG of the last 4 parts (25%, alarm at 25%)"],
    );
  });
});

describe("alarm rule rate-time", function () {
  const rate = (overrides: Partial<AlarmOptions>): AlarmState =>
    createAlarmState(options({ rule: "rate-time", rateSeconds: 10, rateMinParts: 2, ...overrides }));

  it("needs the minimum number of parts in the window", function () {
    const { events } = run(rate({ ratePercent: 50 }), [part("NG", 0), part("NG", 1000)]);
    assert.deepEqual(summary(events), ["-", "alarm:2 NG of 2 parts in the last 10 s (100%, alarm at 50%)"]);
    const state = rate({ ratePercent: 50, latch: false });
    const alone = feed(state, part("NG", 0));
    assert.deepEqual(alone.events, []);
  });

  it("a part at age T - 1 ms still counts; at exactly T it has left the window", function () {
    const { events } = run(rate({ ratePercent: 30, latch: false }), [part("NG", 0), part("OK", 1000), part("OK", 9999), part("OK", 10_000)]);
    assert.deepEqual(summary(events), [
      "-",
      "alarm:1 NG of 2 parts in the last 10 s (50%, alarm at 30%)",
      "-",
      "cleared:0 NG of 3 parts in the last 10 s (0%, alarm at 30%)",
    ]);
  });

  it("clears when the window falls below the minimum number of parts", function () {
    const { events } = run(rate({ ratePercent: 50, latch: false }), [part("NG", 0), part("NG", 1000), part("NG", 11_500)]);
    assert.deepEqual(summary(events), [
      "-",
      "alarm:2 NG of 2 parts in the last 10 s (100%, alarm at 50%)",
      "cleared:1 NG of 1 part in the last 10 s (fewer than 2 parts)",
    ]);
  });

  it("takes a time earlier than the previous part as the same time", function () {
    const { state, events } = run(rate({ ratePercent: 50 }), [part("NG", 5000), part("NG", 1000)]);
    assert.deepEqual(summary(events), ["-", "alarm:2 NG of 2 parts in the last 10 s (100%, alarm at 50%)"]);
    assert.equal(events[1]![0]!.time, iso(5000));
    assert.equal(state.lastTime, T0 + 5000);
  });

  it("rejects a time that is not a number", function () {
    throwsCode(() => feed(rate({}), part("NG", Number.NaN)), "invalidOption", "time");
  });
});

describe("alarm cooldown", function () {
  it("holds back alarm events until cooldown ms after the last one, and not a ms longer", function () {
    const state = createAlarmState(options({ latch: false, cooldownMs: 5000 }));
    const { events } = run(state, [part("NG", 0), part("NG", 4999), part("NG", 5000), part("OK", 5100), part("NG", 6000), part("NG", 10_000)]);
    assert.deepEqual(summary(events), ["alarm:NG part", "-", "alarm:NG part", "cleared:part is OK", "-", "alarm:NG part"]);
  });

  it("an alarm held back is raised at the first later part at which its condition still holds", function () {
    let state = createAlarmState(options({ rule: "consecutive", consecutive: 2, cooldownMs: 10_000 }));
    state = run(state, [part("NG", 0), part("NG", 1000)]).state; // alarm at 1000
    state = acknowledge(state, T0 + 2000).state;
    const { events } = run(state, [part("NG", 3000), part("NG", 10_999), part("NG", 11_000)]);
    assert.deepEqual(summary(events), ["-", "-", "alarm:5 consecutive NG"]);
  });

  it("does not hold back clearing or acknowledgement", function () {
    const state = createAlarmState(options({ cooldownMs: 60_000 }));
    const raised = feed(state, part("NG", 0)).state;
    assert.equal(acknowledge(raised, T0 + 1).events[0]!.event, "acknowledged");
  });
});

describe("alarm reset and errors", function () {
  it("reset forgets counts, windows and the alarm, announcing a clearing; sequences go on", function () {
    let state = createAlarmState(options({ rule: "consecutive", consecutive: 2 }));
    state = run(state, series("ONN")).state;
    assert.deepEqual(state.counts, { ok: 1, ng: 2, uncertain: 0, errors: 0 });
    const step = reset(state, T0 + 4000);
    assert.deepEqual(summary([step.events]), ["cleared:reset"]);
    assert.equal(step.events[0]!.sequence, 2);
    assert.equal(step.events[0]!.evidence.partId, "p2000");
    assert.deepEqual(step.state.counts, { ok: 0, ng: 0, uncertain: 0, errors: 0 });
    assert.equal(step.state.results, 3, "the PLC sequence keeps counting");
    assert.equal(alarmActive(step.state), false);
    // The run was forgotten: one more NG is 1 in a row, not 3.
    assert.deepEqual(feed(step.state, part("NG", 5000)).events, []);
    assert.deepEqual(reset(step.state, T0 + 6000).events, [], "nothing to clear");
  });

  it("reset forgets the cooldown", function () {
    let state = createAlarmState(options({ latch: false, cooldownMs: 60_000 }));
    state = feed(state, part("NG", 0)).state;
    state = reset(state, T0 + 1000).state;
    assert.deepEqual(summary([feed(state, part("NG", 2000)).events]), ["alarm:NG part"]);
  });

  it("an inspection error is counted and is a result, but no part for the rules", function () {
    let state = createAlarmState(options({ rule: "consecutive", consecutive: 2 }));
    state = feed(state, part("NG", 0)).state;
    state = recordError(state, T0 + 500);
    assert.deepEqual(state.counts, { ok: 0, ng: 1, uncertain: 0, errors: 1 });
    assert.equal(state.results, 2);
    assert.deepEqual(summary([feed(state, part("NG", 1000)).events]), ["alarm:2 consecutive NG"], "the error did not break the run");
  });

  it("never changes the state it was given", function () {
    const state = run(createAlarmState(options({ rule: "rate-time", ratePercent: 50, rateMinParts: 1 })), series("ON")).state;
    const before = JSON.stringify(state);
    feed(state, part("NG", 5000));
    acknowledge(state, T0 + 6000);
    reset(state, T0 + 7000);
    recordError(state, T0 + 8000);
    assert.equal(JSON.stringify(state), before);
  });
});

describe("alarm evidence", function () {
  it("summarises regions: count, total area and the 3 most severe as given", function () {
    const regions: RegionLike[] = [
      { x: 1, y: 2, width: 3, height: 4, area: 10, maxScore: 0.9 },
      { x: 5, y: 6, width: 2, height: 2 },
      { x: 7, y: 8, width: 1, height: 1, area: 1, maxScore: 0.5 },
      { x: 9, y: 9, width: 1, height: 1, area: 1, maxScore: 0.4 },
    ];
    const event = feed(createAlarmState(options()), part("NG", 0, { regions, regionCount: 12, score: null })).events[0]!;
    assert.deepEqual(event.evidence, {
      partId: "p0",
      resultId: null,
      score: null,
      verdict: "NG",
      regions: {
        count: 12,
        totalArea: 16,
        top: [
          { x: 1, y: 2, width: 3, height: 4, area: 10, maxScore: 0.9 },
          { x: 5, y: 6, width: 2, height: 2, area: 4, maxScore: null },
          { x: 7, y: 8, width: 1, height: 1, area: 1, maxScore: 0.5 },
        ],
      },
    });
  });
});

describe("alarm input messages", function () {
  const message = (payload: unknown, extra: Record<string, unknown> = {}) => ({
    payload,
    regions: undefined,
    partId: undefined,
    filename: undefined,
    _msgid: "m1",
    ...extra,
  });

  it("reads verdict, score, regions and the part id", function () {
    const inspection = readInspection(
      message(
        { verdict: "NG", score: 0.7, threshold: 0.5, regionCount: 2 },
        {
          regions: [{ x: 1, y: 1, width: 2, height: 2, area: 3, maxScore: 0.8, centroid: { x: 2, y: 2 } }, "junk", { x: 1 }],
          filename: "/parts/a.png",
        },
      ),
      T0,
    );
    assert.deepEqual(inspection, {
      time: T0,
      verdict: "NG",
      partId: "/parts/a.png",
      resultId: null,
      score: 0.7,
      regions: [{ x: 1, y: 1, width: 2, height: 2, area: 3, maxScore: 0.8 }],
      regionCount: 2,
    });
  });

  it("takes the part id of msg.result first, then msg.partId, then msg.filename, then msg._msgid", function () {
    const result = { id: 17, station: "thr", partId: "serial-9" };
    assert.deepEqual(
      [readInspection(message({ verdict: "OK" }, { result, partId: 42 }), T0)].map((p) => [p.partId, p.resultId]),
      [["serial-9", 17]],
    );
    assert.equal(readInspection(message({ verdict: "OK" }, { result: { id: 18, partId: null }, partId: 42 }), T0).partId, "42");
    assert.equal(readInspection(message({ verdict: "OK" }, { partId: 42, filename: "f" }), T0).partId, "42");
    assert.equal(readInspection(message({ verdict: "OK" }, { filename: "f" }), T0).partId, "f");
    assert.equal(readInspection(message({ verdict: "OK" }), T0).partId, "m1");
    assert.equal(readInspection(message({ verdict: "OK", score: "high" }), T0).score, null);
  });

  it("rejects messages without a verdict with noVerdictInput saying why", function () {
    assert.equal(
      throwsCode(() => readInspection(message({ score: 0.3 }), T0), "noVerdictInput").message,
      "msg.payload carries no verdict: msg.payload.verdict is missing",
    );
    assert.equal(
      throwsCode(() => readInspection(message({ verdict: "ng" }), T0), "noVerdictInput").message,
      'msg.payload carries no verdict: msg.payload.verdict must be one of OK, NG, UNCERTAIN, got "ng"',
    );
    assert.equal(
      throwsCode(() => readInspection(message(0.3), T0), "noVerdictInput").message,
      "msg.payload carries no verdict: expected an object from the threshold node, got number",
    );
    throwsCode(() => readInspection(message(null), T0), "noVerdictInput");
  });

  it("reads commands and rejects unknown ones naming msg.command", function () {
    assert.equal(readCommand(undefined), undefined);
    assert.equal(readCommand("ack"), "ack");
    assert.equal(readCommand("trigger"), "trigger");
    assert.equal(readCommand("reset"), "reset");
    const error = throwsCode(() => readCommand("acknowledge"), "invalidOption", "msg.command");
    assert.equal(error.message, 'msg.command must be one of ack, trigger, reset, got "acknowledge"');
  });

  it("recognises the threshold node's calibration answers", function () {
    assert.equal(isControlAnswer({ calibrating: true, count: 3, total: 200, label: "good" }), true);
    assert.equal(isControlAnswer({ learning: true, count: 3, total: 20 }), true);
    assert.equal(isControlAnswer({ command: "reset", deleted: false }), true);
    assert.equal(isControlAnswer({ verdict: "OK" }), false);
    assert.equal(isControlAnswer("calibrating"), false);
  });
});
