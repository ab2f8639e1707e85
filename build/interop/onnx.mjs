// Runs an ONNX export in onnxruntime-node and compares its logits with the Go model's.
//
//	node onnx.mjs CASES.json
//
// CASES.json: {"model": path, "options": {...}, "repeat": n, "cases": [{"name", "batch", "seq", "ids": [...],
// "logits": [...]}]}, ids (batch*seq) and the Go logits (batch*seq*vocab) row-major;
// options (may be absent) are onnxruntime's session options.
// Prints one JSON object: the session's input and output metadata, and per case the
// max abs difference and, with repeat > 0, the median time of repeat runs in ms.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const session = await ort.InferenceSession.create(spec.model, spec.options || {});
const meta = (m) => ({ name: m.name, type: m.type, shape: m.shape });
const result = {
  inputs: session.inputMetadata.map(meta),
  outputs: session.outputMetadata.map(meta),
  cases: [],
};
for (const c of spec.cases) {
  const ids = new ort.Tensor('int64', BigInt64Array.from(c.ids, BigInt), [c.batch, c.seq]);
  const run = async () => (await session.run({ input_ids: ids })).logits;
  const logits = await run();
  if (logits.data.length !== c.logits.length) {
    throw new Error(`case ${c.name}: ${logits.data.length} logits (dims ${logits.dims}), Go has ${c.logits.length}`);
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < c.logits.length; i++) {
    const d = Math.abs(logits.data[i] - c.logits[i]);
    // NaN never compares greater, so it is caught explicitly.
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  const times = [];
  for (let r = 0; r < (spec.repeat || 0); r++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  result.cases.push({ name: c.name, dims: logits.dims, maxAbsDiff, medianMs: times.length ? times[times.length >> 1] : null });
}
console.log(JSON.stringify(result));
