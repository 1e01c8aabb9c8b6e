/**
 * The dashboard's escape-by-default template (dashboard/html.js): every interpolation is escaped, nested
 * markup is not escaped twice, values that could become code are refused, and nothing but html.js writes
 * HTML into the DOM.
 */
import assert from "node:assert/strict";
import { escapeHtml, markup, render, SafeHtml } from "../../dashboard/html.js";

const PAYLOAD = `<img src=x onerror="alert('x')">&amp;\`tpl\``;

Deno.test("markup`` escapes every HTML-significant character of an interpolated value", () => {
  const out = String(markup`<b>${PAYLOAD}</b>`);
  assert.equal(
    out,
    "<b>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;amp;&#96;tpl&#96;</b>",
  );
  assert.ok(!/[<>]/.test(out.slice(3, -4)), "no angle bracket survives inside the element");
});

Deno.test("markup`` escapes values inside quoted attributes, double or single", () => {
  assert.equal(String(markup`<i title="${'"><script>'}"></i>`), '<i title="&quot;&gt;&lt;script&gt;"></i>');
  assert.equal(
    String(markup`<i title='${"' onmouseover='x"}'></i>`),
    "<i title='&#39; onmouseover=&#39;x'></i>",
  );
});

Deno.test("markup`` renders numbers and booleans as text, null and undefined as nothing", () => {
  assert.equal(String(markup`${0}|${false}|${true}|${null}|${undefined}|${-1.5}`), "0|false|true|||-1.5");
});

Deno.test("markup`` keeps nested markup as is and escapes the strings of an array", () => {
  const inner = markup`<span class="x">${"<y>"}</span>`;
  assert.equal(String(markup`<p>${inner}</p>`), '<p><span class="x">&lt;y&gt;</span></p>');
  assert.equal(
    String(markup`<ul>${["<a>", markup`<li>b</li>`, ["<c>"]]}</ul>`),
    "<ul>&lt;a&gt;<li>b</li>&lt;c&gt;</ul>",
  );
});

Deno.test("markup`` treats nested markup inside an attribute as text", () => {
  const inner = markup`<b class="c">x</b>`;
  assert.equal(
    String(markup`<i title="${inner}"></i>`),
    '<i title="&lt;b class=&quot;c&quot;&gt;x&lt;/b&gt;"></i>',
  );
});

Deno.test("markup`` allows bare boolean attributes between attributes, and nothing else there", () => {
  assert.equal(
    String(markup`<details class="j"${markup` open`}></details>`),
    '<details class="j" open></details>',
  );
  assert.equal(String(markup`<details${""}${null}${false}></details>`), "<details></details>");
  assert.throws(() => markup`<div ${"onclick=alert(1)"}></div>`, TypeError);
  assert.throws(() => markup`<div ${markup` onclick="alert(1)"`}></div>`, TypeError);
  assert.throws(() => markup`<${"img src=x onerror=alert(1)"}>`, TypeError);
});

Deno.test("markup`` refuses values in unquoted attributes, event handlers, styles and URLs", () => {
  assert.throws(() => markup`<div class=${"x onclick=alert(1)"}></div>`, /quoted/);
  assert.throws(() => markup`<div onclick="${"alert(1)"}"></div>`, /onclick/);
  assert.throws(() => markup`<div ONMOUSEOVER="${"alert(1)"}"></div>`, /onmouseover/);
  assert.throws(() => markup`<a href="${"javascript:alert(1)"}">x</a>`, /href/);
  assert.throws(() => markup`<img src="${"x"}">`, /src/);
  assert.throws(() => markup`<b style="${"background:url(x)"}"></b>`, /style/);
  // data-* and other plain attributes are fine
  assert.equal(String(markup`<b data-href="${"x"}" title="${"y"}"></b>`), '<b data-href="x" title="y"></b>');
});

Deno.test("SafeHtml is made only by markup``, and render() takes nothing else", () => {
  assert.throws(() => new SafeHtml(Symbol("SafeHtml"), "<b>"), TypeError);
  assert.throws(() => markup(["<b>"] as unknown as TemplateStringsArray), TypeError);
  const el = { innerHTML: "" };
  assert.throws(() => render(el, "<img src=x onerror=alert(1)>"), TypeError);
  assert.throws(() => render(el, { toString: () => "<b>" }), TypeError);
  assert.equal(el.innerHTML, "");
  render(el, markup`<b>${PAYLOAD}</b>`);
  assert.ok(el.innerHTML.startsWith("<b>&lt;img"));
});

Deno.test("escapeHtml() escapes & < > \" ' and ` and nothing else", () => {
  assert.equal(escapeHtml(`a&b<c>d"e'f\`g h/é`), "a&amp;b&lt;c&gt;d&quot;e&#39;f&#96;g h/é");
});

Deno.test("only dashboard/html.js writes HTML into the page", async () => {
  const dir = new URL("../../dashboard/", import.meta.url);
  const sinks = /\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|createContextualFragment/;
  const offenders = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".js") || e.name === "html.js") continue;
    const text = await Deno.readTextFile(new URL(e.name, dir));
    if (sinks.test(text)) offenders.push(e.name);
  }
  assert.deepEqual(offenders, []);
});
