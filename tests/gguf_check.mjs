// gguf_check — reads a GGUF file carve exported with an independent parser (Hugging Face's
// @huggingface/gguf npm package) and compares it with the JSON manifest carve wrote of what
// it meant to write: every metadata key with its GGUF type and value, the tensor table
// (order, names, ggml shapes, types), and each tensor's bytes (FNV-1a 64 at the offset the
// parser reports), plus the file size implied by the table.
// usage: node gguf_check.mjs NODE_MODULES_DIR FILE.gguf MANIFEST.json   (exit 0 = match)
import { createRequire } from "node:module";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";

const [modDir, ggufPath, manPath] = process.argv.slice(2);
const require = createRequire(path.join(modDir, "x.js"));
const { gguf } = require("@huggingface/gguf");

const T = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9 };
const SUB = { arr_i32: 5, arr_f32: 6, arr_str: 8 };
const TYPE_SIZE = { 0: 4, 1: 2, 30: 2 };
let errors = 0;
function fail(msg) {
  if (errors++ < 20) console.error("MISMATCH: " + msg);
}

function sameScalar(kind, want, got) {
  if (kind === "f32" || kind === "arr_f32") return Math.fround(want) === got;
  if (typeof got === "bigint") got = Number(got);
  if (kind === "arr_str" || kind === "str") {
    if (typeof want === "string" && want.startsWith("hex:")) return Buffer.from(got, "utf8").toString("hex") === want.slice(4);
  }
  return want === got;
}

function fnv1a64(buf) {
  // 64-bit FNV-1a as two 32-bit halves (BigInt per byte would be slow).
  let hi = 0xcbf29ce4, lo = 0x84222325;
  for (let i = 0; i < buf.length; i++) {
    lo = (lo ^ buf[i]) >>> 0;
    // multiply (hi,lo) by the prime 0x100000001b3 = 2^40 + 0x1b3, mod 2^64
    const a = lo * 0x1b3;
    const loNew = a >>> 0;
    const carry = Math.floor(a / 4294967296);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0; // lo * 2^40 contributes lo << 8 to hi
    lo = loNew;
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

const man = JSON.parse(readFileSync(manPath, "utf8"));
const r = await gguf(ggufPath, { allowLocalFile: true, typedMetadata: true });
const md = r.typedMetadata;

if (md.version.value !== 3) fail(`version ${md.version.value}, expected 3`);
const keys = Object.keys(man.metadata);
if (Number(md.kv_count.value) !== keys.length) fail(`kv_count ${md.kv_count.value}, manifest has ${keys.length} keys`);
for (const k of Object.keys(md)) {
  if (!["version", "tensor_count", "kv_count"].includes(k) && !(k in man.metadata)) fail(`unexpected key ${k}`);
}
for (const k of keys) {
  const want = man.metadata[k];
  const got = md[k];
  if (!got) { fail(`key ${k} missing`); continue; }
  if (want.type.startsWith("arr_")) {
    if (got.type !== T.arr || got.subType !== SUB[want.type]) { fail(`key ${k}: type ${got.type}/${got.subType}, expected array of ${want.type}`); continue; }
    if (got.value.length !== want.value.length) { fail(`key ${k}: ${got.value.length} elements, expected ${want.value.length}`); continue; }
    for (let i = 0; i < want.value.length; i++)
      if (!sameScalar(want.type, want.value[i], got.value[i])) { fail(`key ${k}[${i}]: ${got.value[i]} != ${want.value[i]}`); break; }
  } else {
    if (got.type !== T[want.type]) fail(`key ${k}: type ${got.type}, expected ${want.type}`);
    else if (!sameScalar(want.type, want.value, got.value)) fail(`key ${k}: ${got.value} != ${want.value}`);
  }
}

const ti = r.tensorInfos;
if (Number(md.tensor_count.value) !== man.tensors.length) fail(`tensor_count ${md.tensor_count.value}, expected ${man.tensors.length}`);
const bytes = readFileSync(ggufPath);
let end = 0;
for (let i = 0; i < Math.min(ti.length, man.tensors.length); i++) {
  const want = man.tensors[i], got = ti[i];
  if (got.name !== want.name) { fail(`tensor ${i}: name ${got.name}, expected ${want.name}`); continue; }
  const shape = got.shape.map(Number);
  if (JSON.stringify(shape) !== JSON.stringify(want.shape)) fail(`${want.name}: shape [${shape}], expected [${want.shape}]`);
  if (got.dtype !== want.type) fail(`${want.name}: type ${got.dtype}, expected ${want.type}`);
  const n = shape.reduce((a, b) => a * b, 1) * TYPE_SIZE[got.dtype];
  const start = Number(r.tensorDataOffset) + Number(got.offset);
  if (start + n > bytes.length) { fail(`${want.name}: data runs past the end of the file`); continue; }
  end = Math.max(end, start + n);
  const h = fnv1a64(bytes.subarray(start, start + n));
  if (h !== want.fnv1a64) fail(`${want.name}: data hash ${h}, expected ${want.fnv1a64}`);
}
if (bytes.length - end >= 32 || end > bytes.length) fail(`file is ${bytes.length} bytes, tensor data ends at ${end}`);
if (errors) {
  console.error(`${ggufPath}: ${errors} mismatches`);
  process.exit(1);
}
console.log(`${ggufPath}: ${keys.length} keys and ${ti.length} tensors match the manifest (read with @huggingface/gguf)`);
