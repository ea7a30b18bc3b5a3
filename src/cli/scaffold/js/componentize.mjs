// Builds one JavaScript plugin with componentize-js (installed by build.sh).
// WASI features are disabled: the host's sandbox grants none of them.
// Usage: node componentize.mjs <source.js> <world> <out.wasm>
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [source, worldName, out] = process.argv.slice(2);
const tools = process.env.EVA_PLUGIN_TOOLS || join(homedir(), ".cache/eva-admin/tools");
const entry = join(tools, "js/node_modules/@bytecodealliance/componentize-js/src/componentize.js");
const { componentize } = await import(pathToFileURL(entry).href);
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve("wit"),
  worldName,
  disableFeatures: ["random", "stdio", "clocks", "http", "fetch-event"],
});
await writeFile(out, component);
