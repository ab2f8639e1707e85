// gguf.mjs FILE [TENSOR...] reads a GGUF file with @huggingface/gguf and prints one
// JSON object: every metadata entry (its GGUF type, its value, or for an array its
// element type, length and first and last elements), every tensor's name, shape (as
// strings: they are bigints) and ggml type, and each named tensor's values decoded
// here from the file's bytes at the offset the reader gives (F32 and Q8_0, the
// block layout written out from ggml-common.h), for gguf_test.go to compare.
import { gguf, GGMLQuantizationType, GGUFValueType } from "@huggingface/gguf";
import { readFileSync } from "node:fs";
import path from "node:path";

const [file, ...wanted] = process.argv.slice(2);
const { typedMetadata, tensorInfos, tensorDataOffset } = await gguf(path.resolve(file), {
	allowLocalFile: true,
	typedMetadata: true,
});

const plain = (v) => (typeof v === "bigint" ? v.toString() : v);
const metadata = {};
for (const [key, e] of Object.entries(typedMetadata)) {
	if (e.type === GGUFValueType.ARRAY) {
		metadata[key] = { type: e.type, subType: e.subType, length: e.value.length, first: plain(e.value[0]), last: plain(e.value[e.value.length - 1]) };
	} else {
		metadata[key] = { type: e.type, value: plain(e.value) };
	}
}

// half converts an IEEE binary16 to a number (exact).
function half(h) {
	const s = h & 0x8000 ? -1 : 1;
	const e = (h >> 10) & 0x1f;
	const m = h & 0x3ff;
	if (e === 0) return s * m * 2 ** -24;
	if (e === 31) return m ? NaN : s * Infinity;
	return s * (1024 + m) * 2 ** (e - 25);
}

const bytes = readFileSync(file);
const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const values = {};
for (const name of wanted) {
	const t = tensorInfos.find((x) => x.name === name);
	if (!t) throw new Error(`no tensor ${name}`);
	const n = t.shape.reduce((a, d) => a * Number(d), 1);
	const at = Number(tensorDataOffset + t.offset);
	const out = new Array(n);
	if (t.dtype === GGMLQuantizationType.F32) {
		for (let i = 0; i < n; i++) out[i] = view.getFloat32(at + 4 * i, true);
	} else if (t.dtype === GGMLQuantizationType.Q8_0) {
		// block_q8_0: fp16 d, then 32 int8 qs; x = qs[j] * d.
		for (let b = 0; b < n / 32; b++) {
			const d = half(view.getUint16(at + 34 * b, true));
			for (let j = 0; j < 32; j++) out[32 * b + j] = view.getInt8(at + 34 * b + 2 + j) * d;
		}
	} else {
		throw new Error(`tensor ${name}: type ${t.dtype} is not decoded here`);
	}
	values[name] = out;
}

const tensors = tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(String), dtype: t.dtype }));
process.stdout.write(JSON.stringify({ metadata, tensors, values }));
