/**
 * @module engine/builtin — what a builtin action is: its listing (description, params) beside a handler
 * that stages changes in the Tx and throws ApiError to refuse. The table is engine/builtins.ts.
 */
import type { ParamSpec } from "./model.ts";
import type { Tx } from "./tx.ts";
import type { WriteResult } from "./write_modes.ts";

export type BuiltinEnv = {
  /** the caller's CEL context (pre-invocation state plus staged writes). */
  ctx: () => Record<string, unknown>;
  /** the participant guide for `help`. */
  guide: () => unknown;
};

export type BuiltinOutcome = {
  writes: WriteResult[];
  extra?: Record<string, unknown>;
  after?: () => Record<string, unknown>;
};

export type Builtin = {
  description: string;
  params: Record<string, ParamSpec>;
  run(tx: Tx, params: Record<string, unknown>, env: BuiltinEnv): BuiltinOutcome;
  /** only the room token may invoke it (listed as unavailable to everyone else) */
  roomTokenOnly?: true;
  /** the params as the audit row keeps them (a secret left out); default: as given */
  auditParams?(params: Record<string, unknown>): Record<string, unknown>;
};
