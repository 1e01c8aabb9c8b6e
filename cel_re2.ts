/**
 * @module cel_re2 — `matches` as RE2 (linear time, interruptible). cel-js implements `string.matches` with
 * JS RegExp (backtracking: `(a+)+$` never ends); CEL specifies RE2. After type-checking, every `matches`
 * call node of a program gets a handler that runs re2js instead. re2js is linear in input × pattern, which
 * is still seconds for 256 KB against a large pattern when its DFA gives up, so the input it reads is
 * wrapped to check the evaluation's deadline every 256 characters (every engine of re2js reads its input
 * through `step`).
 */
import { RE2JS } from "re2js";
import { CEL_MAX_PATTERN_LENGTH, CEL_PATTERN_CACHE_MAX, CEL_PATTERN_DFA_BYTES } from "./config.ts";
import { ApiError } from "./errors.ts";

type MachineInput = { step(pos: number): number };
type Re2Engine = {
  executeEngine(input: MachineInput, pos: number, anchor: number, ncap: number): unknown;
  prog: unknown;
  lazyDFA: unknown;
  dfa: object;
};
const UNANCHORED = 0; // re2js RE2Flags.UNANCHORED: `matches` is a search, as RE2::PartialMatch
// the classes of re2js's string input and of its DFA are not exported: taken from a probe
const { InputBase, DfaClass } = (function probeRe2() {
  const probe = RE2JS.compile("a");
  const re = probe.re2Input as unknown as Re2Engine;
  let input: MachineInput | undefined;
  const own = re.executeEngine;
  re.executeEngine = function (this: Re2Engine, i, ...rest) {
    input = i;
    return own.call(this, i, ...rest);
  };
  probe.test("xa");
  if (!input) throw new Error("re2js input could not be probed");
  return {
    InputBase: input.constructor as new (s: string) => MachineInput,
    DfaClass: re.dfa.constructor as new (prog: unknown, maxMem: number) => unknown,
  };
})();
let scanned = 0;
/** Throws when the running evaluation is past its limit (cel.ts sets it: the deadline is the evaluator's). */
let checkDeadline: () => void = () => {};
export function onRe2Scan(check: () => void): void {
  checkDeadline = check;
}
class DeadlineInput extends InputBase {
  override step(pos: number): number {
    if ((++scanned & 255) === 0) checkDeadline();
    return super.step(pos);
  }
}

const patterns = new Map<string, Re2Engine | Error>();

/** The compiled pattern, or the reason it is not one (cached either way, bounded). */
function pattern(source: string): Re2Engine | Error {
  const hit = patterns.get(source);
  if (hit) return hit;
  let compiled: Re2Engine | Error;
  if (source.length > CEL_MAX_PATTERN_LENGTH) {
    compiled = new Error(
      `matches: the pattern is ${source.length} characters; the limit is ${CEL_MAX_PATTERN_LENGTH}`,
    );
  } else {
    try {
      compiled = RE2JS.compile(source).re2Input as unknown as Re2Engine;
      compiled.lazyDFA = new DfaClass(compiled.prog, CEL_PATTERN_DFA_BYTES);
    } catch (e) {
      compiled = new Error(`matches: not an RE2 pattern: ${firstLine(e)}`);
    }
  }
  if (patterns.size >= CEL_PATTERN_CACHE_MAX) patterns.delete(patterns.keys().next().value!);
  patterns.set(source, compiled);
  return compiled;
}

type AstNode = { op: string; args: unknown };
type MatchesNode = AstNode & {
  handle: (args: unknown[], ev: unknown, ast: MatchesNode) => unknown;
  jsHandle?: MatchesNode["handle"];
};

function matchesRe2(args: unknown[], ev: unknown, ast: MatchesNode): unknown {
  const [s, p] = args;
  if (typeof s !== "string" || typeof p !== "string") return ast.jsHandle!(args, ev, ast);
  const re = pattern(p);
  if (re instanceof Error) throw re;
  return re.executeEngine(new DeadlineInput(s), 0, UNANCHORED, 0) !== null;
}

/** Points every `matches` call of a checked program at RE2; a literal pattern is checked now. */
export function useRe2(root: AstNode, field: string): void {
  const seen = new Set<unknown>();
  const visit = (n: unknown): void => {
    if (!n || typeof n !== "object" || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) return n.forEach(visit);
    if (!("op" in n)) return Object.values(n).forEach(visit);
    const node = n as MatchesNode;
    const args = node.args as unknown[];
    if (node.op === "rcall" && args[0] === "matches" && (args[2] as unknown[]).length === 1) {
      const arg = (args[2] as AstNode[])[0];
      if (arg.op === "value" && typeof arg.args === "string") literalPattern(arg.args, field);
      if (node.handle !== matchesRe2) {
        node.jsHandle = node.handle;
        node.handle = matchesRe2;
      }
    }
    visit(node.args);
    visit((node as unknown as { meta?: { alternate?: unknown } }).meta?.alternate);
  };
  visit(root);
}

function literalPattern(source: string, field: string): void {
  const re = pattern(source);
  if (!(re instanceof Error)) return;
  if (source.length > CEL_MAX_PATTERN_LENGTH) {
    throw new ApiError("cel_limit", `${field}: ${re.message}`, { field, limit: CEL_MAX_PATTERN_LENGTH });
  }
  throw new ApiError("invalid_cel", `${field}: ${re.message}`, {
    field,
    expression: source,
    detail: re.message,
  });
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
