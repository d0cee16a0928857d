// Calls to the loopback server of `replicas console`, which forwards them to the status API.
// The page never talks to AWS or Tavus itself and never holds a credential.

import type { Replica, Status } from "./present";

/** What the console server says about the stack it serves (for the header and the help). */
export interface ConsoleInfo {
  stack: string;
  local: boolean;
  bucket: string;
  upload_prefix: string;
  aws_endpoint_url: string | null;
}

interface ReplicaPage {
  items: Replica[];
  next: string | null;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// The server refuses API calls without this header: a page on another origin cannot add it
// without a CORS preflight, which the server never answers.
const HEADERS = { "X-Replicas-Console": "1", Accept: "application/json" };

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`api${path}`, {
      method,
      headers: body === undefined ? HEADERS : { ...HEADERS, "Content-Type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(
      "The console server does not answer. Is `replicas console` still running?",
      0,
    );
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // an answer that is not JSON is reported below by its status code
  }
  if (!response.ok) {
    const said = (data as { error?: unknown } | null)?.error;
    throw new ApiError(
      typeof said === "string" && said ? said : `The status API answered ${response.status}.`,
      response.status,
    );
  }
  return data as T;
}

export function consoleInfo(): Promise<ConsoleInfo> {
  return call<ConsoleInfo>("GET", "/console");
}

export function getReplica(submissionId: string): Promise<Replica> {
  return call<Replica>("GET", `/replicas/${encodeURIComponent(submissionId)}`);
}

/** Start a new attempt of an item in `error`; `attempt` makes a double click one retry. */
export function retryReplica(submissionId: string, attempt: number): Promise<Replica> {
  return call<Replica>("POST", `/replicas/${encodeURIComponent(submissionId)}/retry`, {
    attempt,
  });
}

export const PAGE_SIZE = 100;
export const MAX_PAGES = 5;

/** Up to MAX_PAGES pages, newest first; `complete` is false when more were left unread. */
export async function listReplicas(
  status: Status | null,
): Promise<{ items: Replica[]; complete: boolean }> {
  const items: Replica[] = [];
  let next: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (status) query.set("status", status);
    if (next) query.set("next", next);
    const body: ReplicaPage = await call<ReplicaPage>("GET", `/replicas?${query}`);
    items.push(...body.items);
    next = body.next;
    if (!next) return { items, complete: true };
  }
  return { items, complete: false };
}

/** Where the page plays a replica's thumbnail video: through the server, never from Tavus. */
export function thumbnailUrl(submissionId: string): string {
  return `api/replicas/${encodeURIComponent(submissionId)}/thumbnail`;
}
