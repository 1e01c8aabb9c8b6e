/**
 * Builds the npm package's `dist/` (mod.js + mod.d.ts) from mod.ts with the TypeScript compiler pinned in
 * deno.json, using this folder's tsconfig.json: `deno task build:client` (npm users: `npm run build`).
 */
import ts from "typescript";

const HERE = new URL(".", import.meta.url).pathname;

/** Type-checks mod.ts and emits it into `outDir`; returns the files written, throws on any diagnostic. */
export function buildClient(outDir = `${HERE}dist`): string[] {
  const config = ts.readConfigFile(`${HERE}tsconfig.json`, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, HERE);
  const program = ts.createProgram(parsed.fileNames, { ...parsed.options, outDir });
  const written: string[] = [];
  const result = program.emit(undefined, (file, text) => {
    ts.sys.writeFile(file, text);
    written.push(file);
  });
  const problems = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (problems.length) {
    throw new Error(ts.formatDiagnostics(problems, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => HERE,
      getNewLine: () => "\n",
    }));
  }
  return written;
}

if (import.meta.main) {
  for (const f of buildClient()) console.log(`wrote ${f}`);
}
