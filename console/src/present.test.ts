import { describe, expect, it } from "vitest";

import {
  ageText,
  type CheckFinding,
  deepCheckOf,
  findingRows,
  hintOf,
  hintParts,
  matchesSearch,
  newestFirst,
  POLL_HIDDEN_MS,
  POLL_MAX_MS,
  POLL_VISIBLE_MS,
  pollDelay,
  progressOf,
  type Replica,
  reasonOf,
  statusChanges,
  statusWord,
  uniqueById,
} from "./present";

function replica(overrides: Partial<Replica> = {}): Replica {
  return {
    submission_id: "s1",
    status: "training",
    kind: "combined",
    name: "alice",
    replica_name: "Alice Liddell",
    bucket: "uploads-bucket",
    created_at: "2026-01-01T10:00:00Z",
    updated_at: "2026-01-01T10:00:00Z",
    attempts: 1,
    history: [],
    ...overrides,
  };
}

describe("status words", () => {
  it("says each status in plain words", () => {
    expect(statusWord("waiting_for_consent")).toBe("Waiting for consent");
    expect(statusWord("checking")).toBe("Checking");
    expect(statusWord("completed")).toBe("Completed");
  });

  it("shows a status it does not know as it comes, without underscores", () => {
    expect(statusWord("paused_by_tavus")).toBe("paused by tavus");
  });
});

describe("reasons", () => {
  it("gives the rejection or error message", () => {
    const item = replica({ status: "rejected", error_message: "video is 20 s long" });
    expect(reasonOf(item)).toBe("video is 20 s long");
  });

  it("never leaves a failed item without a reason", () => {
    expect(reasonOf(replica({ status: "error", error_message: "" }))).toBe(
      "No reason was recorded.",
    );
  });

  it("says why a submitting item waits", () => {
    const item = replica({ status: "submitting", last_error: "Tavus answered 503" });
    expect(reasonOf(item)).toBe("Will try again: Tavus answered 503");
  });

  it("says what the deep check is doing while it looks at the video", () => {
    expect(reasonOf(replica({ status: "checking" }))).toBe(
      "Checking the video's pictures and sound before it goes to Tavus.",
    );
  });

  it("has nothing to add for a training item", () => {
    expect(reasonOf(replica())).toBeNull();
  });
});

describe("progress", () => {
  it("shows training progress, clamped to 0–100", () => {
    expect(progressOf(replica({ training_progress: 42 }))).toBe(42);
    expect(progressOf(replica({ training_progress: null }))).toBe(0);
    expect(progressOf(replica({ training_progress: 140 }))).toBe(100);
  });

  it("is full when completed and absent before training", () => {
    expect(progressOf(replica({ status: "completed" }))).toBe(100);
    expect(progressOf(replica({ status: "submitting" }))).toBeNull();
  });
});

describe("age", () => {
  const created = "2026-01-01T10:00:00Z";
  const at = (seconds: number) => Date.parse(created) + seconds * 1000;

  it("reads like a person would say it", () => {
    expect(ageText(created, at(2))).toBe("just now");
    expect(ageText(created, at(42))).toBe("42 s ago");
    expect(ageText(created, at(5 * 60))).toBe("5 min ago");
    expect(ageText(created, at(3 * 3600))).toBe("3 h ago");
    expect(ageText(created, at(3 * 86400))).toBe("3 days ago");
  });

  it("treats a clock slightly behind the server as now", () => {
    expect(ageText(created, at(-3))).toBe("just now");
  });
});

describe("search", () => {
  it("finds by drop name or replica name, ignoring case and accents", () => {
    const item = replica({ name: "zoë-intro", replica_name: "Zoë" });
    expect(matchesSearch(item, "ZOE")).toBe(true);
    expect(matchesSearch(item, "intro")).toBe(true);
    expect(matchesSearch(item, "bob")).toBe(false);
    expect(matchesSearch(item, "  ")).toBe(true);
  });
});

describe("order", () => {
  it("puts the newest submission first", () => {
    const old = replica({ submission_id: "a", created_at: "2026-01-01T09:00:00Z" });
    const young = replica({ submission_id: "b", created_at: "2026-01-01T11:00:00Z" });
    expect(newestFirst([old, young]).map((item) => item.submission_id)).toEqual(["b", "a"]);
  });

  it("keeps the later copy of an item seen on two pages", () => {
    const before = replica({ updated_at: "2026-01-01T10:00:00Z", status: "training" });
    const after = replica({ updated_at: "2026-01-01T10:01:00Z", status: "completed" });
    expect(uniqueById([after, before])).toEqual([after]);
  });
});

describe("polling", () => {
  it("slows down while the tab is hidden", () => {
    expect(pollDelay(false, 0)).toBe(POLL_VISIBLE_MS);
    expect(pollDelay(true, 0)).toBe(POLL_HIDDEN_MS);
  });

  it("backs off after failures, up to a ceiling", () => {
    expect(pollDelay(false, 1)).toBe(2 * POLL_VISIBLE_MS);
    expect(pollDelay(false, 50)).toBe(POLL_MAX_MS);
  });
});

describe("announcements", () => {
  it("announces items whose status changed, not first sightings", () => {
    const seen = new Map([["s1", "training" as const]]);
    const items = [
      replica({ status: "completed" }),
      replica({ submission_id: "s2", name: "bob", status: "error" }),
    ];
    expect(statusChanges(seen, items)).toEqual(["alice: Completed"]);
  });
});

describe("what to do", () => {
  it("gives the status API's advice on a failed item", () => {
    const item = replica({
      status: "error",
      error_message: "There was an issue processing your training video.",
      error_kind: "video_fps",
      error_hint: "Record at 25 fps or more, or run `replicas prepare` on the file",
    });
    expect(hintOf(item)).toBe("Record at 25 fps or more, or run `replicas prepare` on the file");
  });

  it("has no advice when the message was not recognised, or the item did not fail", () => {
    const unknown = replica({ status: "error", error_message: "boom", error_hint: null });
    expect(hintOf(unknown)).toBeNull();
    expect(hintOf(replica({ status: "error", error_message: "boom" }))).toBeNull();
    expect(hintOf(replica({ status: "training", error_hint: "stale advice" }))).toBeNull();
  });

  it("shows commands between backticks as code", () => {
    expect(hintParts("Run `replicas prepare` on the file")).toEqual([
      { text: "Run ", code: false },
      { text: "replicas prepare", code: true },
      { text: " on the file", code: false },
    ]);
  });

  it("shows an unpaired backtick as it comes", () => {
    expect(hintParts("a ` b")).toEqual([{ text: "a ` b", code: false }]);
  });
});

function finding(overrides: Partial<CheckFinding> = {}): CheckFinding {
  return {
    video: "combined",
    check: "lighting",
    verdict: "warn",
    value: "mean luma 41",
    detail: "The picture is dark; Tavus may make a dim replica.",
    at_seconds: [],
    prevents: null,
    ...overrides,
  };
}

describe("deep check", () => {
  it("lists a finding with its verdict, video, where it shows and the error it heads off", () => {
    const second = finding({
      video: "training",
      check: "second_face",
      verdict: "fail",
      value: "2 faces",
      detail: "A second face shows in the training video.",
      at_seconds: [0, 2, 4.25],
      prevents: "multiple_faces",
    });
    expect(findingRows([second])).toEqual([
      {
        verdict: "fail",
        verdictWord: "Failed",
        videoWord: "Training video",
        detail: "A second face shows in the training video.",
        where: "at 0 s, 2 s, 4.3 s",
        prevents: "prevents Tavus error: multiple_faces",
      },
    ]);
  });

  it("leaves out where and what it prevents when the finding does not say", () => {
    const [row] = findingRows([finding()]);
    expect(row).toMatchObject({ verdictWord: "Warning", videoWord: "Video" });
    expect(row?.where).toBeNull();
    expect(row?.prevents).toBeNull();
  });

  it("lists failures before warnings", () => {
    const rows = findingRows([
      finding({ check: "lighting" }),
      finding({ check: "sound", verdict: "fail", detail: "No speech was heard." }),
    ]);
    expect(rows.map((row) => row.verdictWord)).toEqual(["Failed", "Warning"]);
  });

  it("is not shown when the deep check never looked at the item", () => {
    expect(deepCheckOf(replica())).toBeNull();
    expect(deepCheckOf(replica({ checked_at: null, check_findings: [] }))).toBeNull();
  });

  it("says the video passed when the check ran and found nothing", () => {
    const item = replica({ checked_at: "2026-01-01T10:00:05Z", check_findings: [] });
    expect(deepCheckOf(item)).toEqual({ checkedAt: "2026-01-01T10:00:05Z", rows: [] });
  });

  it("keeps the warnings of an item that went on to Tavus", () => {
    const item = replica({ checked_at: "2026-01-01T10:00:05Z", check_findings: [finding()] });
    expect(deepCheckOf(item)?.rows.map((row) => row.detail)).toEqual([
      "The picture is dark; Tavus may make a dim replica.",
    ]);
  });
});
