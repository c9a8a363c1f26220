// Trims the Worker's wasm before wasm-opt (scripts/build-worker.sh):
// - the `name` custom section (function names, ~11 KB raw): nothing reads
//   them at run time (a trap's stack shows indices instead);
// - the exports of wasm-streams' three classes (`IntoUnderlyingSource`,
//   `IntoUnderlyingByteSource`, `IntoUnderlyingSink`: ~13 KB raw with the
//   code only they reach). The `worker` crate links wasm-streams, whose
//   `#[wasm_bindgen]` methods are exported whether they are used or not;
//   JavaScript calls them only on an object Rust made with
//   `ReadableStream::from_stream` / `WritableStream::from_sink` (the
//   `worker` crate's `ByteStream`, `FixedLengthStream`, `Response::from_stream`),
//   which the gateway never calls: its streams are the runtime's own. A
//   module that can hand such an object to JavaScript (an import of the
//   glue names the class) keeps them;
// - likewise the field accessors of the `worker` crate's exported option
//   structs `ContainerStartupOptions`, `MinifyConfig` and `R2Range`
//   (containers, the `cf` minify option and R2 ranges: the gateway uses none);
// - with GLUE.js (worker-build's index.js, which instantiates the module):
//   the names of the glue's imports, `__wbg_<name>_<16 hex digits>` (~130
//   of them, the hashes are what gzip cannot shrink: ~2.2 KB of the gzip),
//   become short ones (`a`, `b`, …, `Z`, `aa`, …) in both files, and so do
//   the names of the modules they come from (`./index_bg.js`, the inline
//   snippets). Each import name must occur exactly once in GLUE.js (its key
//   in the imports object), each module name only as a key there, or the
//   script fails. Exports GLUE.js never names (the abort handler's flags,
//   `init`, which `__wbindgen_start` calls) are dropped, and its own
//   (`__wbindgen_export3`, `__wasm_bindgen_func_elem_1397`, …) renamed
//   short where it uses them only as `.name`.
// wasm-opt then drops the functions nothing reaches any more.
// Usage: node scripts/wasm-trim.mjs FILE.wasm [GLUE.js] (WASM_KEEP_NAMES=1
// keeps the names, for a profile: scripts/build-worker.sh passes it on).
import { readFileSync, writeFileSync } from "node:fs";

const DEAD_EXPORT = /^(__wbg_)?(get_|set_)?(intounderlying(bytesource|source|sink)|containerstartupoptions|minifyconfig|r2range)_/;

const [file, glueFile] = process.argv.slice(2);
const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file}: not a wasm module`);

function leb(buf, at) {
  let value = 0, shift = 0, byte;
  do {
    byte = buf[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function uleb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
}

// The export section without the dead exports (and, with GLUE.js, without
// those it never names), the glue's own renamed short where GLUE.js uses
// them only as `.name` (the wasm's exports object); null when unchanged.
function trimExports(body, glue) {
  let [count, at] = leb(body, 0);
  const kept = [];
  let changed = false;
  let renamed = 0;
  for (; count > 0; count--) {
    const [length, name] = leb(body, at);
    const text = body.toString("utf8", name, name + length);
    const entry = body.subarray(name + length, (at = leb(body, name + length + 1)[1])); // kind, index
    const named = glue && /^\w+$/.test(text) && glue.text.match(new RegExp(`([\\s\\S]|^)\\b${text}\\b`, "g"));
    if ((!madeByRust && DEAD_EXPORT.test(text)) || named === null) {
      changed = true;
      continue;
    }
    let short = text;
    if (named && GLUE_OWN.test(text) && named.every((use) => use[0] === ".")) {
      short = shortName(renamed++);
      glue.text = glue.text.replace(new RegExp(`\\.${text}\\b`, "g"), `.${short}`);
      changed = true;
    }
    kept.push(uleb(Buffer.byteLength(short)), Buffer.from(short), entry);
  }
  return changed ? Buffer.concat([uleb(kept.length / 3), ...kept]) : null;
}

// Rust hands JavaScript an object of such a class through an import of the
// glue (`__wbg_intounderlyingsource_new`, …): with one, keep the exports.
function importsOne(wasm) {
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at++];
    const [size, body] = leb(wasm, at);
    at = body + size;
    if (id === 2) return /intounderlying|containerstartupoptions|minifyconfig|r2range/i.test(wasm.toString("latin1", body, at));
  }
  return false;
}
const madeByRust = importsOne(wasm);

// The import section with the glue's hashed names shortened (see above);
// `glue` is GLUE.js's text, renamed alike.
const HASHED = /^__(wbg|wbindgen)_\w+_[0-9a-f]{16}$/;
const GLUE_OWN = /^__(wbg|wbindgen|wasm_bindgen)_\w+$/;
function shortName(i) {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let name = "";
  for (i++; i > 0; i = Math.floor((i - 1) / letters.length)) name = letters[(i - 1) % letters.length] + name;
  return name;
}
function shortenImports(body, glue) {
  let [count, at] = leb(body, 0);
  const parts = [uleb(count)];
  let renamed = 0;
  const modules = new Map();
  for (; count > 0; count--) {
    const [moduleLength, moduleName] = leb(body, at);
    const field = moduleName + moduleLength;
    const module = body.toString("utf8", moduleName, field);
    let shortModule = modules.get(module);
    if (shortModule === undefined) {
      shortModule = shortName(modules.size);
      const quoted = JSON.stringify(module);
      const uses = glue.text.split(quoted).length - 1;
      const keys = glue.text.split(new RegExp(`${quoted.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\s*:`)).length - 1;
      if (uses === 0 || uses !== keys) throw new Error(`${glueFile}: ${quoted} occurs ${uses} times, ${keys} as a key`);
      glue.text = glue.text.split(quoted).join(JSON.stringify(shortModule));
      modules.set(module, shortModule);
    }
    const [length, name] = leb(body, field);
    const text = body.toString("utf8", name, name + length);
    const kind = body[name + length];
    let end = name + length + 1;
    if (kind === 0) end = leb(body, end)[1]; // function: type index
    else if (kind === 1 || kind === 2) {
      if (kind === 1) end++; // table: element type
      const flags = body[end++];
      end = leb(body, end)[1];
      if (flags & 1) end = leb(body, end)[1];
    } else if (kind === 3) end += 2; // global: type, mutability
    else if (kind === 4) end = leb(body, end + 1)[1]; // tag: attribute, type index
    else throw new Error(`${file}: import kind ${kind}`);
    let short = text;
    if (kind === 0 && HASHED.test(text)) {
      short = shortName(renamed++);
      const uses = glue.text.split(text).length - 1;
      if (uses !== 1) throw new Error(`${glueFile}: ${text} occurs ${uses} times (expected its key, once)`);
      glue.text = glue.text.replace(text, short);
    }
    parts.push(uleb(shortModule.length), Buffer.from(shortModule), uleb(Buffer.byteLength(short)), Buffer.from(short), body.subarray(name + length, end));
    at = end;
  }
  return Buffer.concat(parts);
}
const glue = glueFile ? { text: readFileSync(glueFile, "utf8") } : null;

const kept = [wasm.subarray(0, 8)];
let at = 8;
while (at < wasm.length) {
  const start = at;
  const id = wasm[at++];
  const [size, body] = leb(wasm, at);
  at = body + size;
  if (id === 0) {
    const [length, name] = leb(wasm, body);
    if (wasm.toString("utf8", name, name + length) === "name" && !process.env.WASM_KEEP_NAMES) continue;
  }
  if (id === 2 && glue) {
    const imports = shortenImports(wasm.subarray(body, at), glue);
    kept.push(Buffer.from([2]), uleb(imports.length), imports);
    continue;
  }
  if (id === 7) {
    const exports = trimExports(wasm.subarray(body, at), glue);
    if (exports) {
      kept.push(Buffer.from([7]), uleb(exports.length), exports);
      continue;
    }
  }
  kept.push(wasm.subarray(start, at));
}
writeFileSync(file, Buffer.concat(kept));
if (glue) writeFileSync(glueFile, glue.text);
