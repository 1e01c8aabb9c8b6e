/**
 * @module errors — the closed table of error codes, ApiError, and the one function that turns any
 * thrown value into the `{error, message, …details}` response (SPEC §14).
 */

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
  unauthorized: 401,
  invalid_token: 401,
  read_only_token: 403,
  identity_mismatch: 403,
  scope_denied: 403,
  not_owner: 403,
  forbidden: 403,
  room_not_found: 404,
  agent_not_found: 404,
  action_not_found: 404,
  action_expired: 404,
  view_not_found: 404,
  message_not_found: 404,
  state_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  room_exists: 409,
  agent_exists: 409,
  precondition_failed: 409,
  version_conflict: 409,
  action_cooldown: 409,
  action_disabled: 409,
  already_claimed: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  quota_exceeded: 429,
  rate_limited: 429,
  internal_error: 500,
  write_failed: 500,
  shutting_down: 503,
  db_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  /** Overrides the table's status where a seed documents another one (rare). */
  readonly status: number;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, status?: number) {
    super(message);
    this.code = code;
    this.details = details;
    this.status = status ?? ERROR_STATUS[code];
  }

  toBody(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.details };
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
