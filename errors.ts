/**
 * @module errors — failure, written once: the closed table of error codes, `ApiError` with typed details per
 * code, the one translator from zod issues, and the one function that turns anything thrown into the
 * `{error, message, …details}` response (reference/api.md#errors). No other module builds an error body.
 */
import { z } from "zod";

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  invalid_body: 400,
  invalid_query: 400,
  invalid_params: 400,
  invalid_id: 400,
  invalid_cel: 400,
  cel_limit: 400,
  invalid_template: 400,
  invalid_timer: 400,
  value_too_large: 400,
  too_deep: 400,
  url_not_allowed: 400,
  unauthorized: 401,
  invalid_token: 401,
  read_only_token: 403,
  identity_mismatch: 403,
  scope_denied: 403,
  not_owner: 403,
  forbidden: 403,
  forbidden_origin: 403,
  not_an_approver: 403,
  room_not_found: 404,
  agent_not_found: 404,
  action_not_found: 404,
  action_expired: 404,
  view_not_found: 404,
  message_not_found: 404,
  state_not_found: 404,
  proposal_not_found: 404,
  session_not_found: 404,
  webhook_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  room_exists: 409,
  agent_exists: 409,
  precondition_failed: 409,
  version_conflict: 409,
  action_cooldown: 409,
  action_disabled: 409,
  already_claimed: 409,
  idempotency_conflict: 409,
  history_expired: 410,
  lease_held: 409,
  lease_lost: 409,
  proposal_closed: 409,
  action_changed: 409,
  payload_too_large: 413,
  quota_exceeded: 429,
  rate_limited: 429,
  internal_error: 500,
  write_failed: 500,
  shutting_down: 503,
  db_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The per-room, per-snapshot and per-process quotas `quota_exceeded` names. */
export const Quota = z.enum([
  "room_entries",
  "room_bytes",
  "room_messages_per_sec",
  "room_messages",
  "room_actions",
  "room_views",
  "room_agents",
  "room_waiters",
  "waiters",
  "room_expressions",
  "room_pending_proposals",
  "mcp_sessions",
  "room_webhooks",
]);
export type Quota = z.infer<typeof Quota>;

/** One zod issue as an error lists it. */
export const IssueSummary = z.object({ path: z.string(), message: z.string() });
export type IssueSummary = z.infer<typeof IssueSummary>;

/**
 * The detail fields of the codes that carry a fixed set (every other code takes any fields). Schemas, so
 * that the constructor's types and the OpenAPI document's error shapes come from one definition.
 */
export const ERROR_DETAILS = {
  quota_exceeded: z.object({
    quota: Quota,
    limit: z.number(),
    stored: z.number().optional(),
    retry_after_ms: z.number().optional(),
  }),
  rate_limited: z.object({
    retry_after_ms: z.number(),
    limit_per_sec: z.number().optional(),
    burst: z.number().optional(),
  }),
  precondition_failed: z.object({
    expression: z.unknown(),
    field: z.string().optional(),
    evaluated: z.boolean().nullable().optional()
      .describe("what the condition evaluated to (null when it failed at run time or was not boolean)"),
    runtime_error: z.string().optional(),
    detail: z.record(z.string(), z.unknown()).optional()
      .describe(
        "each state/views path the condition reads, with its value, as far as the invoker may see it",
      ),
  }),
  version_conflict: z.object({ expected_version: z.number(), current: z.unknown() }),
  lease_held: z.object({
    scope: z.string(),
    key: z.string(),
    holder: z.string().optional().describe("who holds it (left out in a scope you may not read)"),
    epoch: z.number().int().optional(),
    expires_at: z.string().optional().describe("when it lapses unless its holder shows a sign of life"),
  }),
  lease_lost: z.object({
    scope: z.string(),
    key: z.string(),
    expected_epoch: z.number().int().optional(),
    current: z.object({ holder: z.string(), epoch: z.number().int(), expires_at: z.string() }).nullable()
      .optional().describe("the entry's live lease, or null (left out in a scope you may not read)"),
  }),
  invalid_params: z.object({
    field: z.string().optional(),
    issues: z.array(IssueSummary).optional(),
    params: z.array(z.object({ param: z.string(), problem: z.string() })).optional(),
  }),
  not_an_approver: z.object({ proposal: z.string() }),
  proposal_not_found: z.object({ proposal: z.string() }),
  proposal_closed: z.object({
    proposal: z.string(),
    status: z.enum(["executed", "failed", "rejected", "expired"]).describe("how it was decided"),
  }),
  cel_limit: z.object({
    field: z.string().optional(),
    limit: z.number().optional(),
    expression: z.string().optional(),
    detail: z.string().optional(),
  }),
  history_expired: z.object({
    oldest_seq: z.number().int().describe("the oldest commit still retained"),
    field: z.string().optional(),
  }),
  url_not_allowed: z.object({
    field: z.string(),
    reason: z.string()
      .describe("scheme, credentials, local_name, or the address class (loopback, private, link_local, …)"),
  }),
  webhook_not_found: z.object({ webhook: z.string() }),
} satisfies { [C in ErrorCode]?: z.ZodObject };

export type ErrorDetails = { [C in keyof typeof ERROR_DETAILS]: z.input<(typeof ERROR_DETAILS)[C]> };

/** The details code `C` is made with (any code: an open record). */
export type DetailsOf<C extends ErrorCode> = [ErrorCode] extends [C] ? Record<string, unknown>
  : C extends keyof ErrorDetails ? ErrorDetails[C]
  : Record<string, unknown>;

export class ApiError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  /** typed where the error is made (the constructor takes `DetailsOf<C>`); read as a record */
  readonly details: Record<string, unknown>;
  /** Overrides the table's status where a seed documents another one (rare). */
  readonly status: number;
  /** Response headers that belong to this failure (`Allow` of a 405). */
  readonly headers?: Record<string, string>;

  constructor(
    code: C,
    message: string,
    // details may be left out only where the code requires none
    ...[details, opts]: Partial<DetailsOf<C>> extends DetailsOf<C> ? [DetailsOf<C>?, ErrorOptions?]
      : [DetailsOf<C>, ErrorOptions?]
  ) {
    super(message);
    this.code = code;
    this.details = details ?? {};
    this.status = opts?.status ?? ERROR_STATUS[code];
    this.headers = opts?.headers;
  }

  toBody(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.details };
  }
}

export type ErrorOptions = { status?: number; headers?: Record<string, string> };

/** Codes a failed zod parse becomes, with the field named when the issue has no path. */
const ZOD_ROOT = {
  invalid_body: "body",
  invalid_query: "query",
  invalid_params: "params",
  invalid_timer: "timer",
} as const;
export type ZodCode = keyof typeof ZOD_ROOT;

/**
 * The one translation of zod issues: the first issue names the field (`at` prefixes it when the value sat
 * inside something, e.g. `actions[0]`), unknown keys are listed, and up to ten issues are attached.
 */
export function fromZod(e: z.ZodError, code: ZodCode, at?: string): ApiError {
  const issue = e.issues[0];
  let path = issue?.path.map(String).join(".") ?? "";
  // an unknown key is the field at fault: `read_context {"extra": 1}` names `extra`, not the whole body
  if (issue?.code === "unrecognized_keys" && issue.keys.length) {
    path = path ? `${path}.${issue.keys[0]}` : issue.keys[0];
  }
  const field = at ? (path ? `${at}.${path}` : at) : (path || ZOD_ROOT[code]);
  const where = issue?.path.length ? issue.path.map(String).join(".") : "";
  const message = issue?.code === "unrecognized_keys"
    ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${
      issue.keys.map((k) => JSON.stringify(k)).join(", ")
    }${at || where ? ` in ${at ? (where ? `${at}.${where}` : at) : where}` : ""}`
    : `${field}: ${issue?.message}`;
  const issues = e.issues.slice(0, 10).map((i) => ({
    path: i.path.map(String).join("."),
    message: i.message,
  }));
  return new ApiError(code, message, { field, issues });
}

/** A refusal as an ApiError: ours as it is, a zod error as `zodCode`; anything else is a bug and rethrown. */
export function asRefusal(e: unknown, zodCode: ZodCode = "invalid_params"): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof z.ZodError) return fromZod(e, zodCode);
  throw e;
}

/**
 * Anything thrown, as an ApiError: ours as they are, zod errors as `zodCode` (`invalid_body` for a request
 * body), framework HTTP exceptions by their status; anything else is a logged `500 internal_error`.
 */
export function toApiError(
  err: unknown,
  o: { zodCode?: ZodCode; log?: (line: Record<string, unknown>) => void } = {},
): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return fromZod(err, o.zodCode ?? "invalid_body");
  if (isHttpException(err)) {
    return new ApiError(
      err.status === 413 ? "payload_too_large" : "bad_request",
      err.message || "bad request",
      {},
      {
        status: err.status,
      },
    );
  }
  o.log?.({ level: "error", error: String((err as Error)?.stack ?? err) });
  console.error(err);
  return new ApiError("internal_error", "an unexpected error occurred; it has been logged");
}

/** Hono's HTTPException, recognised by shape so this module needs no web framework. */
function isHttpException(e: unknown): e is Error & { status: number } {
  return e instanceof Error && typeof (e as { status?: unknown }).status === "number" &&
    typeof (e as { getResponse?: unknown }).getResponse === "function";
}

/** JSON as every response carries it: one line, ended by a newline (pasted curl output stays apart). */
export const JSON_TYPE = "application/json; charset=utf-8";
export function jsonText(body: unknown): string {
  return JSON.stringify(body) + "\n";
}

/** The HTTP response for anything thrown: the body, its status, `x-error-code`, and the error's headers. */
export function toErrorResponse(err: unknown, log?: (line: Record<string, unknown>) => void): Response {
  const e = toApiError(err, { log });
  const headers: Record<string, string> = { "content-type": JSON_TYPE, "x-error-code": e.code, ...e.headers };
  if (e.code === "rate_limited") {
    const ms = (e.details as ErrorDetails["rate_limited"]).retry_after_ms;
    headers["retry-after"] = String(Math.max(1, Math.ceil(ms / 1000)));
  }
  return new Response(jsonText(e.toBody()), { status: e.status, headers });
}
