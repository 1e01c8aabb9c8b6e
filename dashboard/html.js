// Escape-by-default HTML for the dashboard: markup`…` escapes every interpolation and returns SafeHtml,
// and render() (the only place HTML reaches the DOM) accepts nothing else. Inside a tag only boolean
// attributes (markup` hidden`) may be added; a value in an unquoted attribute, an event handler, a style
// or a URL attribute is refused, so room data always stays text. (Not named `html`: deno fmt would
// re-indent every template, changing the whitespace the page shows.)

const KEY = Symbol("SafeHtml");
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };
// attributes whose value is code or a URL: escaping alone does not make room data safe there
const UNSAFE_ATTR = /^(?:on|style$|href$|src$|srcset$|srcdoc$|action$|formaction$|xlink:href$)/;

/** HTML built only by markup``: its text is trusted because every interpolation in it was escaped. */
export class SafeHtml {
  #text;
  constructor(key, text) {
    if (key !== KEY) throw new TypeError("SafeHtml is made only by the markup`` tag");
    this.#text = text;
  }
  toString() {
    return this.#text;
  }
}

/** Escapes the five HTML-significant characters (and the backtick) of any value's string form. */
export const escapeHtml = (v) => String(v).replace(/[&<>"'`]/g, (c) => ESCAPES[c]);

/** null and undefined render nothing; arrays render each item; SafeHtml as is; anything else escaped. */
function inText(v) {
  if (v instanceof SafeHtml) return v.toString();
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(inText).join("");
  return escapeHtml(v);
}

/** Inside a quoted attribute even SafeHtml is text: its markup must not end the attribute. */
function inAttr(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(inAttr).join("");
  return escapeHtml(String(v));
}

const BOOLEAN_ATTRS = /^(?:\s+[a-z-]+)*$/;

/** Between attributes only `markup\` open\``-style boolean attributes (or nothing) may be interpolated. */
function inTag(v) {
  if (v === null || v === undefined || v === false || v === "") return "";
  if (v instanceof SafeHtml && BOOLEAN_ATTRS.test(v.toString())) return v.toString();
  throw new TypeError("markup``: inside a tag only boolean attributes such as markup` hidden` may be added");
}

const contexts = new WeakMap(); // template strings → where each interpolation sits: text, attr or tag

/** Walks a template's literal parts (escaped values cannot change the context) and classifies each hole. */
function classify(strings) {
  let cached = contexts.get(strings);
  if (cached) return cached;
  cached = [];
  let state = "text", attr = "", name = "", eq = false;
  for (let i = 0; i < strings.length - 1; i++) {
    for (const ch of strings[i]) {
      if (state === "text") {
        if (ch === "<") state = "tag", name = "", eq = false;
      } else if (state === "tag") {
        if (ch === ">") state = "text";
        else if ((ch === '"' || ch === "'") && eq) state = ch, attr = name;
        else if (ch === "=") eq = true;
        else if (/\s/.test(ch)) {
          if (!eq) name = "";
        } else if (eq) name = ch.toLowerCase(), eq = false; // an unquoted value, then a new name
        else name += ch.toLowerCase();
      } else if (ch === state) state = "tag", name = "", eq = false;
    }
    if (state === "tag" && eq) throw new TypeError("markup``: an attribute value must be quoted");
    if (state.length === 1 && UNSAFE_ATTR.test(attr)) {
      throw new TypeError(`markup\`\`: no interpolation into the ${attr} attribute`);
    }
    cached.push(state.length === 1 ? "attr" : state);
  }
  contexts.set(strings, cached);
  return cached;
}

/** The tag: markup`<b title="${x}">${y}</b>` escapes x and y. */
export function markup(strings, ...values) {
  if (!Array.isArray(strings) || !Array.isArray(strings.raw)) throw new TypeError("markup is a template tag");
  const where = classify(strings);
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += (where[i] === "text" ? inText(v) : where[i] === "attr" ? inAttr(v) : inTag(v)) + strings[i + 1];
  }
  return new SafeHtml(KEY, out);
}

/** Replaces an element's content: the one innerHTML assignment of the dashboard. */
export function render(el, safe) {
  if (!(safe instanceof SafeHtml)) throw new TypeError("render() takes markup`…`, not a string");
  el.innerHTML = safe.toString();
}
