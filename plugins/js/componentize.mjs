// Builds one JavaScript guest with componentize-js (installed by build.sh
// into plugins/.tools/js). WASI features are disabled so the component
// imports nothing the host's empty WASI context lacks (notably wasi:http).
// Usage: node componentize.mjs <source.js> <world> <out.wasm>
import { writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [source, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node componentize.mjs <source.js> <world> <out.wasm>");
  process.exit(2);
}
const entry = resolve(here, "../.tools/js/node_modules/@bytecodealliance/componentize-js/src/componentize.js");
const { componentize } = await import(pathToFileURL(entry).href);
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(here, "../../wit"),
  worldName,
  disableFeatures: ["random", "stdio", "clocks", "http", "fetch-event"],
});
await writeFile(out, component);
