// What the page says about a submission: words, ages, reasons, order. Pure functions only,
// so they are tested without a browser (present.test.ts).

export const STATUSES = [
  "received",
  "waiting_for_consent",
  "waiting_for_training",
  "checking",
  "submitting",
  "training",
  "completed",
  "error",
  "rejected",
] as const;

export type Status = (typeof STATUSES)[number];

export interface HistoryEntry {
  at: string;
  status?: Status | null;
  note?: string | null;
}

/** A warning or failure of the deep check (the pre-flight checks run before Tavus sees a video). */
export interface CheckFinding {
  video: "combined" | "training" | "consent";
  /** Which requirement, e.g. second_face, lighting. */
  check: string;
  verdict: "warn" | "fail";
  /** The number behind the verdict. */
  value: string;
  /** The finding in plain words, one sentence. */
  detail: string;
  /** Seconds into the video where it shows (the first few). */
  at_seconds: number[];
  /** The Tavus training error kind it heads off, if any. */
  prevents: string | null;
}

/** One submission as the status API returns it (GET /replicas/{submission_id}). */
export interface Replica {
  submission_id: string;
  status: Status;
  kind: string;
  name: string;
  replica_name: string;
  replica_id?: string | null;
  training_progress?: number | null;
  error_message?: string | null;
  /** The kind of a Tavus training error, when the status API recognised its message. */
  error_kind?: string | null;
  /** What to do about that error, in one sentence (`commands` in backticks). */
  error_hint?: string | null;
  last_error?: string | null;
  model_name?: string | null;
  bucket: string;
  training_key?: string | null;
  consent_key?: string | null;
  created_at: string;
  updated_at: string;
  attempts: number;
  history: HistoryEntry[];
  thumbnail_video_url?: string | null;
  /** When the deep check looked at the video; null when it is off or has not run yet. */
  checked_at?: string | null;
  /** Warnings (kept; the video still went to Tavus) and failures (why it was rejected). */
  check_findings?: CheckFinding[];
}

const WORDS: Record<Status, string> = {
  received: "Received",
  waiting_for_consent: "Waiting for consent",
  waiting_for_training: "Waiting for training video",
  checking: "Checking",
  submitting: "Submitting",
  training: "Training",
  completed: "Completed",
  error: "Error",
  rejected: "Rejected",
};

export function isStatus(value: string): value is Status {
  return (STATUSES as readonly string[]).includes(value);
}

/** The word a person reads for a status; an unknown one (a newer API) is shown as it comes. */
export function statusWord(status: string): string {
  return isStatus(status) ? WORDS[status] : status.replaceAll("_", " ");
}

/** Why an item is where it is, in plain words; null when its status says it all. */
export function reasonOf(item: Replica): string | null {
  switch (item.status) {
    case "error":
    case "rejected":
      return item.error_message || "No reason was recorded.";
    case "submitting":
      return item.last_error ? `Will try again: ${item.last_error}` : null;
    case "waiting_for_consent":
      return "Upload the consent video to the same folder (consent.mp4) to submit this pair.";
    case "waiting_for_training":
      return "Upload the training video to the same folder (train.mp4) to submit this pair.";
    case "checking":
      return "Checking the video's pictures and sound before it goes to Tavus.";
    default:
      return null;
  }
}

/** What to do about a failed item, shown beside Tavus's message; null when there is no advice. */
export function hintOf(item: Replica): string | null {
  return item.status === "error" && item.error_hint ? item.error_hint : null;
}

export interface TextPart {
  text: string;
  code: boolean;
}

/** A hint cut into plain text and `commands` (between backticks), to show commands as code. */
export function hintParts(hint: string): TextPart[] {
  const pieces = hint.split("`");
  // An unpaired backtick marks no command: the hint is shown as it comes.
  if (pieces.length % 2 === 0) return [{ text: hint, code: false }];
  return pieces
    .map((text, index) => ({ text, code: index % 2 === 1 }))
    .filter((part) => part.text !== "");
}

export interface FindingRow {
  verdict: string;
  /** "Failed" or "Warning": the verdict in words, so it never rests on colour alone. */
  verdictWord: string;
  /** Which video: "Training video", "Consent video" or "Video" (one with the consent in it). */
  videoWord: string;
  detail: string;
  /** "at 0 s, 2 s", or null when the finding is about the whole video. */
  where: string | null;
  /** "prevents Tavus error: video_duration", or null when it heads off no known error. */
  prevents: string | null;
}

const VERDICT_WORDS: Record<string, string> = { fail: "Failed", warn: "Warning" };
const VIDEO_WORDS: Record<string, string> = {
  combined: "Video",
  training: "Training video",
  consent: "Consent video",
};

/** The deep check's findings as the detail view lists them: failures first, then warnings. */
export function findingRows(findings: readonly CheckFinding[]): FindingRow[] {
  const failuresFirst = [...findings].sort(
    (a, b) => Number(b.verdict === "fail") - Number(a.verdict === "fail"),
  );
  return failuresFirst.map((finding) => ({
    verdict: finding.verdict,
    // A verdict or video a newer API adds is shown as it comes.
    verdictWord: VERDICT_WORDS[finding.verdict] ?? finding.verdict,
    videoWord: VIDEO_WORDS[finding.video] ?? finding.video,
    detail: finding.detail,
    where: finding.at_seconds?.length
      ? `at ${finding.at_seconds.map((seconds) => `${secondsText(seconds)} s`).join(", ")}`
      : null,
    prevents: finding.prevents ? `prevents Tavus error: ${finding.prevents}` : null,
  }));
}

function secondsText(seconds: number): string {
  // Tenths at most: the check samples whole seconds, a cut may fall between them.
  return String(Math.round(seconds * 10) / 10);
}

export interface DeepCheck {
  checkedAt: string | null;
  rows: FindingRow[];
}

/** What the detail view says about the deep check; null when it has not looked at the item. */
export function deepCheckOf(item: Replica): DeepCheck | null {
  const rows = findingRows(item.check_findings ?? []);
  if (!rows.length && !item.checked_at) return null;
  return { checkedAt: item.checked_at ?? null, rows };
}

/** Training progress 0–100 for the bar, or null when there is no bar to show. */
export function progressOf(item: Replica): number | null {
  if (item.status === "completed") return 100;
  if (item.status !== "training") return null;
  const progress = item.training_progress ?? 0;
  return Math.min(100, Math.max(0, Math.round(progress)));
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 days ago". */
export function ageText(iso: string, nowMs: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.floor((nowMs - then) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** Search by name: the drop's name or the replica name, ignoring case and accents. */
export function matchesSearch(item: Replica, query: string): boolean {
  const wanted = fold(query.trim());
  if (!wanted) return true;
  return fold(item.name).includes(wanted) || fold(item.replica_name).includes(wanted);
}

function fold(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLocaleLowerCase();
}

/** Newest submission first; created_at, so rows do not jump around as they update. */
export function newestFirst(items: readonly Replica[]): Replica[] {
  return [...items].sort(
    (a, b) =>
      b.created_at.localeCompare(a.created_at) || b.submission_id.localeCompare(a.submission_id),
  );
}

/** Items by id, the later of two copies winning (pages may overlap while items move). */
export function uniqueById(items: readonly Replica[]): Replica[] {
  const byId = new Map<string, Replica>();
  for (const item of items) {
    const seen = byId.get(item.submission_id);
    if (!seen || seen.updated_at <= item.updated_at) byId.set(item.submission_id, item);
  }
  return [...byId.values()];
}

export const POLL_VISIBLE_MS = 3_000;
export const POLL_HIDDEN_MS = 30_000;
export const POLL_MAX_MS = 60_000;

/** How long to wait before the next poll: slower when hidden, backing off after failures. */
export function pollDelay(hidden: boolean, failures: number): number {
  const base = hidden ? POLL_HIDDEN_MS : POLL_VISIBLE_MS;
  return Math.min(POLL_MAX_MS, base * 2 ** Math.min(failures, 5));
}

/** Announcements for people using a screen reader: which items changed status. */
export function statusChanges(
  before: ReadonlyMap<string, Status>,
  items: readonly Replica[],
): string[] {
  return items
    .filter((item) => {
      const earlier = before.get(item.submission_id);
      return earlier !== undefined && earlier !== item.status;
    })
    .map((item) => `${item.name}: ${statusWord(item.status)}`);
}
