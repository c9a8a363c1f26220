// Drops the `name` custom section (function names, ~11 KB raw) from the
// Worker's wasm: wasm-opt cannot leave it out, because worker-build always
// passes it `--debuginfo`. Nothing reads the names at run time (a trap's
// stack shows indices instead). Usage: node scripts/strip-names.mjs FILE.wasm
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file}: not a wasm module`);

function leb(at) {
  let value = 0, shift = 0, byte;
  do {
    byte = wasm[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

const kept = [wasm.subarray(0, 8)];
let at = 8;
while (at < wasm.length) {
  const start = at;
  const id = wasm[at++];
  const [size, body] = leb(at);
  at = body + size;
  if (id === 0) {
    const [length, name] = leb(body);
    if (wasm.toString("utf8", name, name + length) === "name") continue;
  }
  kept.push(wasm.subarray(start, at));
}
writeFileSync(file, Buffer.concat(kept));
