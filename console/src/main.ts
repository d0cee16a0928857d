// The console page: a live list of submissions and a detail view, in plain DOM.
// Rows are kept and updated in place between polls, so focus and scroll survive updates.

import "./style.css";
import {
  ApiError,
  type ConsoleInfo,
  consoleInfo,
  getReplica,
  listReplicas,
  retryReplica,
  thumbnailUrl,
} from "./api";
import {
  ageText,
  deepCheckOf,
  type FindingRow,
  hintOf,
  hintParts,
  isStatus,
  matchesSearch,
  newestFirst,
  pollDelay,
  progressOf,
  reasonOf,
  type Replica,
  STATUSES,
  type Status,
  statusChanges,
  statusWord,
  uniqueById,
} from "./present";

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const page = {
  stack: byId<HTMLParagraphElement>("stack"),
  freshness: byId<HTMLParagraphElement>("freshness"),
  problem: byId<HTMLDivElement>("problem"),
  listView: byId<HTMLElement>("list-view"),
  controls: byId<HTMLFormElement>("controls"),
  statusFilter: byId<HTMLSelectElement>("status-filter"),
  search: byId<HTMLInputElement>("search"),
  summary: byId<HTMLParagraphElement>("summary"),
  list: byId<HTMLUListElement>("replicas"),
  empty: byId<HTMLElement>("empty"),
  submitCommand: byId<HTMLElement>("submit-command"),
  copyCommand: byId<HTMLElement>("copy-command"),
  detailView: byId<HTMLElement>("detail-view"),
  detailHeading: byId<HTMLHeadingElement>("detail-heading"),
  detailBadge: byId<HTMLElement>("detail-badge"),
  detailProgress: byId<HTMLElement>("detail-progress"),
  detailReason: byId<HTMLParagraphElement>("detail-reason"),
  detailHint: byId<HTMLParagraphElement>("detail-hint"),
  detailActions: byId<HTMLParagraphElement>("detail-actions"),
  detailRetry: byId<HTMLButtonElement>("detail-retry"),
  detailThumbnail: byId<HTMLElement>("detail-thumbnail"),
  detailFacts: byId<HTMLDListElement>("detail-facts"),
  detailCheck: byId<HTMLElement>("detail-check"),
  detailHistory: byId<HTMLOListElement>("detail-history"),
  announcer: byId<HTMLDivElement>("announcer"),
};

type Route = { kind: "list" } | { kind: "detail"; id: string };

const DETAIL_PREFIX = "#/replica/";

function routeOf(hash: string): Route {
  if (hash.startsWith(DETAIL_PREFIX)) {
    const id = decodeURIComponent(hash.slice(DETAIL_PREFIX.length));
    if (id) return { kind: "detail", id };
  }
  return { kind: "list" };
}

function detailHref(id: string): string {
  return DETAIL_PREFIX + encodeURIComponent(id);
}

const state = {
  route: routeOf(location.hash),
  items: [] as Replica[],
  complete: true,
  loaded: false,
  detail: null as Replica | null,
  statusFilter: null as Status | null,
  query: "",
  problem: null as string | null,
  failures: 0,
  updatedAt: null as Date | null,
  // Last status seen per item, to announce changes (not first sightings) to screen readers.
  seen: new Map<string, Status>(),
  timer: 0,
  // Bumped by every refresh: an answer that arrives after a newer request started is dropped.
  generation: 0,
};

// -- small DOM helpers ---------------------------------------------------------------------

function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const created = document.createElement(tag);
  if (className) created.className = className;
  if (text !== undefined) created.textContent = text;
  return created;
}

/** Sets text only when it changed, so live regions do not repeat themselves. */
function setText(target: HTMLElement, text: string): void {
  if (target.textContent !== text) target.textContent = text;
}

function show(target: HTMLElement, visible: boolean): void {
  if (target.hidden === visible) target.hidden = !visible;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function localTime(iso: string): string {
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime()) ? iso : parsed.toLocaleString();
}

function announce(messages: string[]): void {
  if (messages.length) page.announcer.textContent = messages.join(". ");
}

// -- the status badge and progress bar (shared by rows and the detail view) ------------------

function badge(): HTMLSpanElement {
  const created = make("span", "badge");
  const dot = make("span", "dot");
  dot.setAttribute("aria-hidden", "true");
  created.append(dot, make("span", "word"));
  return created;
}

function updateBadge(target: HTMLElement, status: Status): void {
  if (target.dataset.status !== status) target.dataset.status = status;
  setText(target.querySelector<HTMLElement>(".word")!, statusWord(status));
}

/** "What to do: …" beside the error of a failed item, commands as code; hidden without advice. */
function updateHint(line: HTMLElement, item: Replica): void {
  const hint = hintOf(item);
  show(line, hint !== null);
  const text = line.querySelector<HTMLElement>(".hint-text")!;
  // Rebuilt only when the advice changes, so a poll does not churn the DOM.
  if (text.dataset.hint === (hint ?? "")) return;
  text.dataset.hint = hint ?? "";
  text.replaceChildren(
    ...hintParts(hint ?? "").map((part) =>
      part.code ? make("code", undefined, part.text) : document.createTextNode(part.text),
    ),
  );
}

function hintLine(): HTMLParagraphElement {
  const line = make("p", "hint");
  line.append(make("strong", undefined, "What to do:"), " ", make("span", "hint-text"));
  return line;
}

function updateProgress(line: HTMLElement, item: Replica): void {
  const progress = progressOf(item);
  show(line, progress !== null);
  if (progress === null) return;
  const bar = line.querySelector("progress")!;
  if (bar.value !== progress) bar.value = progress;
  setText(line.querySelector<HTMLElement>(".percent")!, `${progress}%`);
}

// -- the list ----------------------------------------------------------------------------

interface Row {
  item: Replica;
  element: HTMLLIElement;
  link: HTMLAnchorElement;
  badge: HTMLSpanElement;
  progress: HTMLSpanElement;
  age: HTMLTimeElement;
  reason: HTMLParagraphElement;
  hint: HTMLParagraphElement;
  actions: HTMLParagraphElement;
  retry: HTMLButtonElement;
  retryProblem: HTMLSpanElement;
}

const rows = new Map<string, Row>();

function createRow(item: Replica): Row {
  const element = make("li", "replica");
  const top = make("div", "line");
  const link = make("a", "name");
  link.href = detailHref(item.submission_id);
  const rowBadge = badge();
  top.append(link, rowBadge);

  const meta = make("div", "line meta");
  const progress = make("span", "progress-line");
  const bar = make("progress");
  bar.max = 100;
  bar.setAttribute("aria-label", "Training progress");
  progress.append(bar, make("span", "percent"));
  const submitted = make("span", "age", "Submitted ");
  const age = make("time");
  submitted.append(age);
  meta.append(progress, submitted);

  const reason = make("p", "reason");
  const hint = hintLine();
  const actions = make("p", "actions");
  const retry = make("button", "retry", "Retry");
  retry.type = "button";
  const retryProblem = make("span", "retry-problem");
  retryProblem.setAttribute("role", "alert");
  actions.append(retry, retryProblem);

  element.append(top, meta, reason, hint, actions);
  const row: Row = {
    item,
    element,
    link,
    badge: rowBadge,
    progress,
    age,
    reason,
    hint,
    actions,
    retry,
    retryProblem,
  };
  retry.addEventListener("click", () => void retryItem(row.item, retry, retryProblem, link));
  return row;
}

function updateRow(row: Row, item: Replica, now: number): void {
  row.item = item;
  if (row.element.dataset.status !== item.status) row.element.dataset.status = item.status;
  setText(row.link, item.name);
  updateBadge(row.badge, item.status);
  updateProgress(row.progress, item);
  if (row.age.dateTime !== item.created_at) {
    row.age.dateTime = item.created_at;
    row.age.title = localTime(item.created_at);
  }
  setText(row.age, ageText(item.created_at, now));
  const reason = reasonOf(item);
  show(row.reason, reason !== null);
  setText(row.reason, reason ?? "");
  updateHint(row.hint, item);
  show(row.actions, item.status === "error");
  const label = `Retry ${item.name}`;
  if (row.retry.getAttribute("aria-label") !== label) row.retry.setAttribute("aria-label", label);
}

function renderList(): void {
  const now = Date.now();
  const visible = state.items.filter((item) => matchesSearch(item, state.query));
  const wanted = new Set(visible.map((item) => item.submission_id));
  for (const [id, row] of rows) {
    if (!wanted.has(id)) {
      row.element.remove();
      rows.delete(id);
    }
  }
  visible.forEach((item, index) => {
    let row = rows.get(item.submission_id);
    if (!row) {
      row = createRow(item);
      rows.set(item.submission_id, row);
    }
    updateRow(row, item, now);
    // Move a row only when it is out of place: moving a focused element would drop focus.
    const there = page.list.children[index];
    if (there !== row.element) page.list.insertBefore(row.element, there ?? null);
  });

  const filtering = state.statusFilter !== null || state.query.trim() !== "";
  show(page.empty, state.loaded && !filtering && state.items.length === 0 && !state.problem);
  setText(page.summary, summaryText(visible.length, filtering));
}

function summaryText(shown: number, filtering: boolean): string {
  if (!state.loaded) return state.problem ? "" : "Loading submissions…";
  if (!filtering && state.items.length === 0) return "";
  const more = state.complete ? "" : " (the newest ones only)";
  if (shown === 0) return "No submissions match.";
  const noun = shown === 1 ? "submission" : "submissions";
  if (!filtering) return `${shown} ${noun}${more}`;
  const what = state.statusFilter ? ` ${statusWord(state.statusFilter).toLowerCase()}` : "";
  const named = state.query.trim() ? ` matching “${state.query.trim()}”` : "";
  return `${shown}${what} ${noun}${named}${more}`;
}

// -- the detail view -------------------------------------------------------------------------

const KINDS: Record<string, string> = {
  combined: "one video with the consent statement at its start",
  pair: "a training video and a separate consent video",
  part: "half of a pair, waiting for the other video",
};

let shownFacts = "";
let shownCheck = "";
let shownHistory = "";

function renderDetail(): void {
  const item = state.detail;
  const route = state.route;
  if (!item || route.kind !== "detail" || item.submission_id !== route.id) {
    setText(page.detailHeading, state.problem ? "Submission not found" : "Loading…");
    page.detailBadge.hidden = true;
    for (const part of [
      page.detailProgress,
      page.detailReason,
      page.detailHint,
      page.detailActions,
    ]) {
      show(part, false);
    }
    show(page.detailThumbnail, false);
    show(page.detailCheck, false);
    page.detailFacts.replaceChildren();
    page.detailHistory.replaceChildren();
    shownFacts = shownCheck = shownHistory = "";
    return;
  }
  setText(page.detailHeading, item.name);
  page.detailBadge.hidden = false;
  updateBadge(page.detailBadge, item.status);
  updateProgress(page.detailProgress, item);
  const reason = reasonOf(item);
  show(page.detailReason, reason !== null);
  setText(page.detailReason, reason ?? "");
  updateHint(page.detailHint, item);
  show(page.detailActions, item.status === "error");
  renderThumbnail(item);
  renderFacts(item);
  renderCheck(item);
  renderHistory(item);
}

function renderThumbnail(item: Replica): void {
  const available = Boolean(item.thumbnail_video_url);
  show(page.detailThumbnail, available);
  const video = page.detailThumbnail.querySelector("video")!;
  const source = available ? thumbnailUrl(item.submission_id) : "";
  // Setting src again would restart a playing video: only when the item changes.
  if (video.dataset.for !== source) {
    video.dataset.for = source;
    if (source) video.src = source;
    else video.removeAttribute("src");
  }
}

function s3Url(bucket: string, key: string | null | undefined): string | null {
  return key ? `s3://${bucket}/${key}` : null;
}

function renderFacts(item: Replica): void {
  const facts: [string, string | null, string?][] = [
    ["Submission id", item.submission_id],
    ["Replica name", item.replica_name],
    ["Tavus replica id", item.replica_id ?? "not yet (given when submitted to Tavus)"],
    ["Kind", KINDS[item.kind] ?? item.kind],
    ["Training video", s3Url(item.bucket, item.training_key)],
    ["Consent video", s3Url(item.bucket, item.consent_key)],
    ["Model", item.model_name ?? null],
    ["Attempts", String(item.attempts)],
    ["Created", localTime(item.created_at), item.created_at],
    ["Updated", localTime(item.updated_at), item.updated_at],
  ];
  const signature = JSON.stringify(facts);
  if (signature === shownFacts) return;
  shownFacts = signature;
  const entries = facts.flatMap(([term, value, iso]) => {
    if (value === null) return [];
    const description = make("dd");
    if (iso) {
      const time = make("time", undefined, value);
      time.dateTime = iso;
      description.append(time);
    } else {
      description.textContent = value;
    }
    return [make("dt", undefined, term), description];
  });
  page.detailFacts.replaceChildren(...entries);
}

/** The deep check's findings; hidden when the check never looked at the item. */
function renderCheck(item: Replica): void {
  const check = deepCheckOf(item);
  show(page.detailCheck, check !== null);
  const signature = JSON.stringify(check);
  if (signature === shownCheck) return;
  shownCheck = signature;
  const when = page.detailCheck.querySelector<HTMLElement>(".checked-at")!;
  const passed = page.detailCheck.querySelector<HTMLElement>(".check-passed")!;
  const list = page.detailCheck.querySelector<HTMLUListElement>(".findings")!;
  const checkedAt = check?.checkedAt ?? null;
  show(when, checkedAt !== null);
  if (checkedAt !== null) {
    const time = make("time", undefined, localTime(checkedAt));
    time.dateTime = checkedAt;
    when.replaceChildren("Checked ", time);
  }
  const findings = check?.rows ?? [];
  show(passed, check !== null && findings.length === 0);
  show(list, findings.length > 0);
  list.replaceChildren(...findings.map(findingLine));
}

function findingLine(row: FindingRow): HTMLLIElement {
  const line = make("li", "finding");
  line.dataset.verdict = row.verdict;
  line.append(
    make("strong", "verdict", row.verdictWord),
    " ",
    make("span", "which", `${row.videoWord}:`),
    " ",
    make("span", "detail", row.detail),
  );
  const extra = [row.where, row.prevents].filter((part): part is string => part !== null);
  if (extra.length) line.append(" ", make("span", "finding-extra", `(${extra.join("; ")})`));
  return line;
}

function renderHistory(item: Replica): void {
  const signature = JSON.stringify(item.history);
  if (signature === shownHistory) return;
  shownHistory = signature;
  const entries = item.history.map((entry) => {
    const line = make("li");
    const time = make("time", undefined, localTime(entry.at));
    time.dateTime = entry.at;
    line.append(time);
    if (entry.status && isStatus(entry.status)) {
      const entryBadge = badge();
      updateBadge(entryBadge, entry.status);
      line.append(" ", entryBadge);
    }
    if (entry.note) line.append(" ", make("span", "note", entry.note));
    return line;
  });
  if (!entries.length) entries.push(make("li", undefined, "No transitions recorded yet."));
  page.detailHistory.replaceChildren(...entries);
}

// -- the page as a whole ------------------------------------------------------------------------

function render(): void {
  const detail = state.route.kind === "detail";
  show(page.listView, !detail);
  show(page.detailView, detail);
  if (detail) renderDetail();
  else renderList();
  show(page.problem, state.problem !== null);
  setText(page.problem, state.problem ?? "");
  renderFreshness();
}

function renderFreshness(): void {
  let text: string;
  if (state.problem && state.failures) {
    const seconds = Math.round(pollDelay(document.hidden, state.failures) / 1000);
    text = `Not updated: trying again in ${seconds} s`;
  } else if (!state.updatedAt) {
    text = "Loading…";
  } else {
    const at = state.updatedAt.toLocaleTimeString();
    text = document.hidden
      ? `Updated ${at}; updates slow down while this tab is hidden`
      : `Live: updated ${at}`;
  }
  setText(page.freshness, text);
}

function remember(items: readonly Replica[]): void {
  for (const item of items) state.seen.set(item.submission_id, item.status);
}

/** One poll: the list or the item on show. Every answer schedules the next poll. */
async function refresh(): Promise<void> {
  window.clearTimeout(state.timer);
  const generation = ++state.generation;
  const route = state.route;
  try {
    if (route.kind === "detail") {
      const item = await getReplica(route.id);
      if (generation !== state.generation) return;
      announce(statusChanges(state.seen, [item]));
      remember([item]);
      state.detail = item;
      replaceItem(item);
    } else {
      const { items, complete } = await listReplicas(state.statusFilter);
      if (generation !== state.generation) return;
      announce(statusChanges(state.seen, items));
      remember(items);
      state.items = newestFirst(uniqueById(items));
      state.complete = complete;
      state.loaded = true;
    }
    state.problem = null;
    state.failures = 0;
    state.updatedAt = new Date();
  } catch (error) {
    if (generation !== state.generation) return;
    const missing = error instanceof ApiError && error.status === 404;
    // A missing item will not appear by asking again; anything else may be passing.
    state.failures = missing ? 0 : state.failures + 1;
    state.problem = messageOf(error);
    if (missing) state.detail = null;
  }
  render();
  schedule();
}

function schedule(): void {
  window.clearTimeout(state.timer);
  state.timer = window.setTimeout(
    () => void refresh(),
    pollDelay(document.hidden, state.failures),
  );
}

function replaceItem(item: Replica): void {
  const at = state.items.findIndex((each) => each.submission_id === item.submission_id);
  if (at >= 0) state.items[at] = item;
  if (state.detail?.submission_id === item.submission_id) state.detail = item;
}

async function retryItem(
  item: Replica,
  button: HTMLButtonElement,
  problem: HTMLElement,
  focusAfter: HTMLElement,
): Promise<void> {
  button.disabled = true;
  button.textContent = "Retrying…";
  problem.textContent = "";
  try {
    const updated = await retryReplica(item.submission_id, item.attempts);
    replaceItem(updated);
    remember([updated]);
    announce([`${updated.name}: retrying, attempt ${updated.attempts}`]);
    render();
    // The button disappears with the error: keep keyboard users on the item.
    focusAfter.focus();
  } catch (error) {
    problem.textContent = messageOf(error);
  } finally {
    button.disabled = false;
    button.textContent = "Retry";
  }
  void refresh();
}

function showInfo(info: ConsoleInfo): void {
  page.stack.textContent = info.local ? "Local stack" : `Stack ${info.stack}`;
  const destination = `s3://${info.bucket}/${info.upload_prefix}`;
  page.submitCommand.textContent = info.local
    ? "replicas submit my-video.mp4"
    : `replicas --stack ${info.stack} submit my-video.mp4`;
  page.copyCommand.textContent =
    info.local && info.aws_endpoint_url
      ? `aws --endpoint-url ${info.aws_endpoint_url} s3 cp my-video.mp4 ${destination}`
      : `aws s3 cp my-video.mp4 ${destination}`;
}

function start(): void {
  for (const status of STATUSES) {
    const option = make("option", undefined, statusWord(status));
    option.value = status;
    page.statusFilter.append(option);
  }
  page.controls.addEventListener("submit", (event) => event.preventDefault());
  page.statusFilter.addEventListener("change", () => {
    const value = page.statusFilter.value;
    state.statusFilter = isStatus(value) ? value : null;
    state.loaded = false;
    state.items = [];
    render();
    void refresh();
  });
  page.search.addEventListener("input", () => {
    state.query = page.search.value;
    render();
  });
  const detailRetryProblem = page.detailActions.querySelector<HTMLElement>(".retry-problem")!;
  page.detailRetry.addEventListener("click", () => {
    if (state.detail) {
      void retryItem(state.detail, page.detailRetry, detailRetryProblem, page.detailHeading);
    }
  });
  window.addEventListener("hashchange", () => {
    const was = state.route;
    state.route = routeOf(location.hash);
    state.problem = null;
    const route = state.route;
    // Show what the list already knows at once; the poll below brings the rest.
    if (route.kind === "detail" && state.detail?.submission_id !== route.id)
      state.detail = state.items.find((item) => item.submission_id === route.id) ?? null;
    render();
    if (state.route.kind === "detail") page.detailHeading.focus();
    else if (was.kind === "detail") rows.get(was.id)?.link.focus();
    void refresh();
  });
  document.addEventListener("visibilitychange", () => {
    // Back to a visible tab: show fresh data now rather than at the end of a slow wait.
    if (!document.hidden) void refresh();
    else {
      renderFreshness();
      schedule();
    }
  });
  consoleInfo().then(showInfo, () => undefined);
  render();
  void refresh();
}

start();
