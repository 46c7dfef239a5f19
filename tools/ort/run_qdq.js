#!/usr/bin/env node
// Evaluates an ONNX model (e.g. qforge's QDQ export) with ONNX Runtime on the Fashion-MNIST test set.
//
//   cd tools/ort && npm ci --ignore-scripts   (once; installs onnxruntime-node from package-lock.json. The CPU
//                                              runtime is in the npm tarball; the package's postinstall only fetches
//                                              CUDA provider binaries from NuGet and fails without that network)
//   node tools/ort/run_qdq.js model.qdq.onnx [--data DIR] [--n 10000] [--batch 500] [--mean M --std S]
//                                            [--preds out.bin] [--threads T] [--json]
//
// Reads t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] from DIR ($QFORGE_FMNIST_DIR, else
// /usr/share/datasets/fashion-mnist), normalises x = (pixel/255 - mean) / std with mean/std from the model's
// metadata_props (qforge.mean / qforge.std, read straight from the ONNX protobuf) unless given, runs batches
// through onnxruntime-node (CPU execution provider, all graph optimizations, so the QDQ patterns are fused into
// ORT's int8 kernels) and prints top-1. --preds writes the argmax of every image (one byte each) so the
// predictions can be compared with qforge's own int8 executor.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const { parseOptions, makeUsage, requireOrt, openSession, runMain } = require('./cli_common');

const usage = makeUsage('run_qdq.js', 'node run_qdq.js MODEL.onnx [--data DIR] [--n N] [--batch B] [--mean M] ' +
                        '[--std S] [--preds FILE] [--threads T] [--json]');

function parseArgs(argv) {
  const a = { data: process.env.QFORGE_FMNIST_DIR || '/usr/share/datasets/fashion-mnist',
              n: 0, batch: 500, mean: null, std: null, preds: null, threads: 0 };
  const o = parseOptions(argv, {
    '--data': (next) => { a.data = next(); },
    '--n': (next) => { a.n = parseInt(next(), 10); },
    '--batch': (next) => { a.batch = parseInt(next(), 10); },
    '--mean': (next) => { a.mean = parseFloat(next()); },
    '--std': (next) => { a.std = parseFloat(next()); },
    '--preds': (next) => { a.preds = next(); },
    '--threads': (next) => { a.threads = parseInt(next(), 10); },
    '--json': true,
  }, usage);
  a.model = o.model;
  a.json = o.switches.has('--json');
  if (!(a.batch > 0)) usage('--batch must be positive');
  return a;
}

// Reads a possibly gzipped file.
function readMaybeGz(p) {
  for (const f of [p, p + '.gz']) {
    if (fs.existsSync(f)) {
      const buf = fs.readFileSync(f);
      return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
    }
  }
  throw new Error(`${p}[.gz] not found`);
}

// IDX (LeCun): 0x00 0x00 0x08 (ubyte) ndims, big-endian u32 dims, data.
function readIdx(p, expectDims) {
  const b = readMaybeGz(p);
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 8) throw new Error(`${p}: not an unsigned-byte IDX file`);
  const nd = b[3];
  if (nd !== expectDims) throw new Error(`${p}: ${nd} dimensions, expected ${expectDims}`);
  const dims = [];
  let count = 1;
  for (let i = 0; i < nd; ++i) { dims.push(b.readUInt32BE(4 + 4 * i)); count *= dims[i]; }
  const off = 4 + 4 * nd;
  if (b.length - off !== count) throw new Error(`${p}: ${b.length - off} data bytes, dims say ${count}`);
  return { dims, data: b.subarray(off) };
}

// Minimal protobuf walk: ModelProto.metadata_props (field 14) -> {key: value}.
function readVarint(b, pos) {
  let v = 0, shift = 0, byte;
  do {
    if (pos >= b.length) throw new Error('truncated varint');
    byte = b[pos++];
    v += (byte & 0x7f) * Math.pow(2, shift);
    shift += 7;
  } while (byte & 0x80);
  return [v, pos];
}
function skipField(b, pos, wire) {
  if (wire === 0) return readVarint(b, pos)[1];
  if (wire === 1) return pos + 8;
  if (wire === 5) return pos + 4;
  if (wire === 2) { const [len, p] = readVarint(b, pos); return p + len; }
  throw new Error(`unsupported wire type ${wire}`);
}
function onnxMetadata(file) {
  const b = fs.readFileSync(file);
  const meta = {};
  let pos = 0;
  while (pos < b.length) {
    let key;
    [key, pos] = readVarint(b, pos);
    const field = Math.floor(key / 8), wire = key % 8;
    if (field === 14 && wire === 2) {
      let len;
      [len, pos] = readVarint(b, pos);
      const end = pos + len;
      let k = '', v = '';
      while (pos < end) {
        let t;
        [t, pos] = readVarint(b, pos);
        const f = Math.floor(t / 8);
        let l;
        [l, pos] = readVarint(b, pos);
        const s = b.subarray(pos, pos + l).toString('utf8');
        pos += l;
        if (f === 1) k = s; else if (f === 2) v = s;
      }
      meta[k] = v;
    } else {
      pos = skipField(b, pos, wire);
    }
  }
  return meta;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = requireOrt('run_qdq.js');
  const meta = onnxMetadata(a.model);
  const mean = a.mean !== null ? a.mean : parseFloat(meta['qforge.mean'] || '0');
  const std = a.std !== null ? a.std : parseFloat(meta['qforge.std'] || '1');
  if (!(std > 0)) usage('std must be positive');
  const images = readIdx(path.join(a.data, 't10k-images-idx3-ubyte'), 3);
  const labels = readIdx(path.join(a.data, 't10k-labels-idx1-ubyte'), 1);
  const total = images.dims[0], H = images.dims[1], W = images.dims[2];
  const n = a.n > 0 ? Math.min(a.n, total) : total;
  const session = await openSession(ort, a.model, a.threads > 0 ? { intraOpNumThreads: a.threads } : {});
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const preds = new Uint8Array(n);
  let correct = 0;
  const t0 = Date.now();
  for (let s = 0; s < n; s += a.batch) {
    const e = Math.min(n, s + a.batch), b = e - s;
    const x = new Float32Array(b * H * W);
    for (let i = 0; i < b * H * W; ++i) x[i] = (images.data[s * H * W + i] / 255 - mean) / std;
    const out = await session.run({ [inName]: new ort.Tensor('float32', x, [b, 1, H, W]) });
    const y = out[outName];
    const C = y.dims[1];
    for (let i = 0; i < b; ++i) {
      let best = 0;
      for (let c = 1; c < C; ++c) if (y.data[i * C + c] > y.data[i * C + best]) best = c;
      preds[s + i] = best;
      if (best === labels.data[s + i]) ++correct;
    }
  }
  const secs = (Date.now() - t0) / 1000;
  if (a.preds) {
    fs.writeFileSync(a.preds + '.tmp', preds);
    fs.renameSync(a.preds + '.tmp', a.preds);
  }
  const top1 = 100 * correct / n;
  if (a.json) {
    console.log(JSON.stringify({ model: a.model, images: n, correct, top1, seconds: secs, ort: ort.env.versions }));
  } else {
    console.log(`${path.basename(a.model)}: ONNX Runtime top-1 ${top1.toFixed(2)}% (${correct}/${n}), ` +
                `mean ${mean} std ${std}, ${secs.toFixed(1)} s`);
  }
}

runMain('run_qdq.js', main);
