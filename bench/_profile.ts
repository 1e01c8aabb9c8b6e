/**
 * @module bench/_profile — `deno run -A bench/_profile.ts FILE.cpuprofile [N]`: the top N functions of a V8
 * CPU profile by self time (and the same summed by file), to see where the server spends its time.
 */
type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
const [file, nArg] = Deno.args;
const prof = JSON.parse(await Deno.readTextFile(file)) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFn = new Map<string, number>();
const byUrl = new Map<string, number>();
for (const [id, us] of self) {
  const cf = byId.get(id)!.callFrame;
  const url = cf.url.replace(/^.*\/(npm|deno)\//, "").replace(/^file:\/\/\/work\/main\//, "");
  const k = `${cf.functionName || "(anon)"} ${url}:${cf.lineNumber + 1}`;
  byFn.set(k, (byFn.get(k) ?? 0) + us);
  const u = url.replace(/:\d+$/, "") || cf.functionName;
  byUrl.set(u, (byUrl.get(u) ?? 0) + us);
}
const n = Number(nArg ?? 40);
const show = (m: Map<string, number>) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).forEach(([k, us]) =>
    console.log(
      `${(us / 1000).toFixed(0).padStart(7)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`,
    )
  );
console.log(`total ${(total / 1000).toFixed(0)} ms`);
show(byFn);
console.log("--- by file");
show(byUrl);
