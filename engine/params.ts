/**
 * @module engine/params — custom action parameter schemas: validation of a schema at registration and of
 * the params of an invocation (reference/api.md#custom-actions, invocation step 2): every bad param named, unknown params refused, defaults
 * applied.
 */
import { z } from "zod";
import { ApiError } from "../errors.ts";
import type { ParamSpec } from "./model.ts";

export const ParamSpecSchema = z.strictObject({
  type: z.enum(["string", "number", "integer", "boolean", "object", "array", "any"]).default("any"),
  enum: z.array(z.unknown()).min(1).max(1000).optional(),
  required: z.boolean().optional(),
  description: z.string().max(2000).optional(),
  default: z.unknown().optional(),
});

export const ParamsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "param names are 1-64 of [A-Za-z0-9_-]"),
  ParamSpecSchema,
);

function typeOk(type: ParamSpec["type"], v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "object":
      return v !== null && typeof v === "object" && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    default:
      return true;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Checks a schema's defaults against their own type and enum. */
export function checkParamSchema(schema: Record<string, ParamSpec>, field: string): void {
  for (const [name, spec] of Object.entries(schema)) {
    if (
      spec.default !== undefined &&
      (!typeOk(spec.type, spec.default) || (spec.enum && !spec.enum.some((e) => same(e, spec.default))))
    ) {
      throw new ApiError("invalid_body", `${field}.${name}.default does not match its own type or enum`, {
        field: `${field}.${name}.default`,
      });
    }
  }
}

/** Validates invocation params; returns them with defaults filled in. */
export function validateParams(
  schema: Record<string, ParamSpec> | undefined,
  params: Record<string, unknown>,
) {
  const s = schema ?? {};
  const problems: { param: string; problem: string }[] = [];
  // own properties only: a param named `constructor` or `toString` is unknown unless declared
  for (const name of Object.keys(params)) {
    if (!Object.hasOwn(s, name)) problems.push({ param: name, problem: "unknown param" });
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(s)) {
    let v = Object.hasOwn(params, name) ? params[name] : undefined;
    if (v === undefined && spec.default !== undefined) v = structuredClone(spec.default);
    if (v === undefined) {
      if (spec.required) problems.push({ param: name, problem: "required" });
      continue;
    }
    if (!typeOk(spec.type, v)) {
      problems.push({ param: name, problem: `must be ${spec.type === "integer" ? "an" : "a"} ${spec.type}` });
    } else if (spec.enum && !spec.enum.some((e) => same(e, v))) {
      problems.push({ param: name, problem: `must be one of ${JSON.stringify(spec.enum)}` });
    } else out[name] = v;
  }
  if (problems.length) {
    throw new ApiError(
      "invalid_params",
      problems.map((p) => `${p.param}: ${p.problem}`).join("; "),
      { params: problems },
    );
  }
  return out;
}
