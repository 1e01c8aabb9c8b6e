/**
 * @module engine/templates — `${self}`, `${now}`, `${params.x.y}` substitution in write templates
 * (reference/api.md#custom-actions, invocation step 4): values and object keys, deep, one pass; a string that is exactly one placeholder
 * keeps the JSON type of what it names. Substituted text is never scanned again.
 */
import { ApiError } from "../errors.ts";

export type TemplateVars = { self: string; now: string; params: Record<string, unknown> };

const PLACEHOLDER = /\$\{([^${}]*)\}/g;
const EXACT = /^\$\{([^${}]*)\}$/;
const NAME = /^(self|now|params(\.[A-Za-z0-9_-]+)+)$/;

function lookup(path: string, vars: TemplateVars): unknown {
  if (path === "self") return vars.self;
  if (path === "now") return vars.now;
  let v: unknown = vars.params;
  for (const part of path.split(".").slice(1)) {
    // own properties only: `${params.o.constructor}` names nothing unless `o` has such a field
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function resolveString(s: string, vars: TemplateVars): unknown {
  const exact = EXACT.exec(s);
  if (exact) return lookup(exact[1].trim(), vars) ?? null;
  if (!s.includes("${")) return s;
  return s.replace(PLACEHOLDER, (_, p: string) => stringify(lookup(p.trim(), vars)));
}

/** Substitutes placeholders everywhere in a JSON value. */
export function resolveTemplate(v: unknown, vars: TemplateVars): unknown {
  if (typeof v === "string") return resolveString(v, vars);
  if (Array.isArray(v)) return v.map((x) => resolveTemplate(x, vars));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[stringify(resolveString(k, vars))] = resolveTemplate(x, vars);
    return out;
  }
  return v;
}

/** Registration-time check: every placeholder names self, now or params.<declared param>. */
export function checkTemplate(v: unknown, field: string, declared: Set<string>): void {
  const visit = (x: unknown, path: string) => {
    if (typeof x === "string") {
      for (const m of x.matchAll(PLACEHOLDER)) {
        const name = m[1].trim();
        if (!NAME.test(name)) {
          throw new ApiError("invalid_template", `${path} uses unknown placeholder \${${m[1]}}`, {
            field: path,
            placeholder: m[0],
          });
        }
        if (name.startsWith("params.") && !declared.has(name.split(".")[1])) {
          throw new ApiError(
            "invalid_template",
            `${path} uses \${${name}} but the action declares no param ${name.split(".")[1]}`,
            {
              field: path,
              placeholder: m[0],
            },
          );
        }
      }
    } else if (Array.isArray(x)) x.forEach((y, i) => visit(y, `${path}[${i}]`));
    else if (x !== null && typeof x === "object") {
      for (const [k, y] of Object.entries(x)) {
        visit(k, `${path} key ${JSON.stringify(k)}`);
        visit(y, `${path}.${k}`);
      }
    }
  };
  visit(v, field);
}
