#!/usr/bin/env node
// Times whole-model inference of one ONNX file with ONNX Runtime (onnxruntime-node, CPU execution provider, all
// graph optimizations, so QDQ patterns run on ORT's int8 kernels) at several batch sizes, for tools/bench/peers.py.
//
//   node tools/ort/bench.js MODEL.onnx --shape C,H,W [--batches 1,64] [--threads T] [--min-time S] [--reps R[,R]]
//                          [--no-spin]
//
// One session with intraOpNumThreads = T (default 1), interOpNumThreads = 1, sequential execution; --no-spin asks
// ORT's intra-op pool not to spin (config session.intra_op.allow_spinning = 0). --reps may give one count per batch. The input is
// a fixed pseudo-random float batch in [-1, 1]. Per batch size: 1 warm-up run, then R repetitions (default 3),
// each running the model until S seconds (default 0.3) have passed (at least once) and recording the mean time
// per run and the process CPU time (user + system, all threads) per run; the result is the median repetition.
// Prints one JSON object: {model, threads, ort, rows: [{batch, seconds_per_run: [...], cpu_seconds_per_run: [...],
// median_s, cpu_s, images_per_s}]}. Pin the process from outside (taskset).
'use strict';

const { parseOptions, makeUsage, requireOrt, openSession, runMain } = require('./cli_common');

const usage = makeUsage('bench.js', 'node bench.js MODEL.onnx --shape C,H,W [--batches 1,64] [--threads T] ' +
                        '[--min-time S] [--reps R[,R]] [--no-spin]');

function parseArgs(argv) {
  const a = { shape: null, batches: [1, 64], threads: 1, minTime: 0.3, reps: [3] };
  const list = (s) => s.split(',').map((v) => parseInt(v, 10));
  const o = parseOptions(argv, {
    '--shape': (next) => { a.shape = list(next()); },
    '--batches': (next) => { a.batches = list(next()); },
    '--threads': (next) => { a.threads = parseInt(next(), 10); },
    '--min-time': (next) => { a.minTime = parseFloat(next()); },
    '--reps': (next) => { a.reps = list(next()); },
    '--no-spin': true,
  }, usage);
  a.model = o.model;
  a.noSpin = o.switches.has('--no-spin');
  if (!a.shape || a.shape.length !== 3 || a.shape.some((v) => !(v > 0))) usage('--shape C,H,W is required');
  if (a.batches.some((v) => !(v > 0))) usage('--batches must be positive');
  if (!(a.threads > 0) || a.reps.some((v) => !(v > 0)) || !(a.minTime > 0)) usage('--threads, --reps, --min-time must be positive');
  return a;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = requireOrt('bench.js');
  const opts = { intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential' };
  if (a.noSpin) opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  const session = await openSession(ort, a.model, opts);
  const inName = session.inputNames[0];
  const per = a.shape[0] * a.shape[1] * a.shape[2];
  const rows = [];
  for (const [bi, b] of a.batches.entries()) {
    const nreps = a.reps[Math.min(bi, a.reps.length - 1)];
    const x = new Float32Array(b * per);
    let s = 12345;  // LCG: the same input every run
    for (let i = 0; i < x.length; ++i) { s = (s * 1103515245 + 12345) >>> 0; x[i] = s / 2147483648 - 1; }
    const feeds = { [inName]: new ort.Tensor('float32', x, [b, ...a.shape]) };
    await session.run(feeds);  // warm-up
    const reps = [], cpu = [];
    for (let r = 0; r < nreps; ++r) {
      let n = 0;
      const c0 = process.cpuUsage();
      const t0 = now();
      let t = t0;
      do { await session.run(feeds); ++n; t = now(); } while (t - t0 < a.minTime);
      const c = process.cpuUsage(c0);
      reps.push((t - t0) / n);
      cpu.push((c.user + c.system) / 1e6 / n);
    }
    const order = reps.map((v, i) => i).sort((p, q) => reps[p] - reps[q]);
    const mid = order[Math.floor(order.length / 2)];
    rows.push({ batch: b, seconds_per_run: reps, cpu_seconds_per_run: cpu, median_s: reps[mid], cpu_s: cpu[mid],
                images_per_s: b / reps[mid] });
  }
  console.log(JSON.stringify({ model: a.model, threads: a.threads, ort: ort.env.versions, rows }));
}

runMain('bench.js', main);
