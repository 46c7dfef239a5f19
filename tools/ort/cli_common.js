// What the two ONNX Runtime scripts share: option parsing, loading onnxruntime-node with a clear error, opening a
// CPU session with all graph optimizations (so QDQ patterns run on ORT's int8 kernels), and the top-level error
// handler. Each script names itself in its messages.
'use strict';

// Parses argv. flags maps '--name' to a handler: handler(next) for options taking a value (next() returns it, or
// stops with "needs a value"), or true for a bare switch (reported as a set in the result). The first positional
// argument is `model`. Unknown options and extra positionals stop with a usage message.
function parseOptions(argv, flags, usage) {
  const out = { model: null, switches: new Set() };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${k} needs a value`); return argv[++i]; };
    if (Object.prototype.hasOwnProperty.call(flags, k)) {
      if (flags[k] === true) out.switches.add(k);
      else flags[k](next);
    } else if (k.startsWith('--')) usage(`unknown option ${k}`);
    else if (!out.model) out.model = k;
    else usage(`unexpected argument ${k}`);
  }
  if (!out.model) usage('MODEL is required');
  return out;
}

function makeUsage(tool, text) {
  return (msg) => {
    if (msg) console.error(`${tool}: ${msg}`);
    console.error(`usage: ${text}`);
    process.exit(2);
  };
}

function requireOrt(tool) {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    console.error(`${tool}: onnxruntime-node is not installed (cd tools/ort && npm ci --ignore-scripts)`);
    process.exit(1);
  }
}

// extra: more session options (threads, execution mode, config entries).
async function openSession(ort, model, extra) {
  return ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', ...extra });
}

function runMain(tool, main) {
  main().catch((e) => { console.error(`${tool}: ${e.message || e}`); process.exit(1); });
}

module.exports = { parseOptions, makeUsage, requireOrt, openSession, runMain };
