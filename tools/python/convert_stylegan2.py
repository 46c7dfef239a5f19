"""Convert a StyleGAN2-ADA generator to the qforge container (safetensors-compatible, official tensor names).

  convert_stylegan2.py NET.pkl -o OUT.qf [--net G_ema]
  convert_stylegan2.py STATE_DICT.pt --config G.json -o OUT.qf
  convert_stylegan2.py --self-test

Inputs:
  * an official stylegan2-ada-pytorch (or stylegan3 networks_stylegan2) network pickle: a dict with G, D, G_ema,
    ... whose networks are `torch_utils.persistence` objects. It is read with a RESTRICTED unpickler that never
    runs code from the file: find_class only resolves the handful of callables needed to rebuild tensors
    (torch's tensor/parameter rebuild helpers; storages are decoded with torch.load(weights_only=True)),
    numpy scalars/dtypes and plain containers. The persistence hook is replaced by a record that keeps the
    pickled class name and state dict (the embedded module source is kept as text and never executed).
    Anything else (os.system, builtins.eval, subprocess, unknown classes, TF-era pickles) is refused.
  * a torch.save'd state_dict with official names (loaded with weights_only=True) plus --config, a JSON file
    of the Generator kwargs {z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs,
    synthesis_kwargs{channel_base, channel_max, num_fp16_res, conv_clamp, architecture}}.
Every tensor is checked by loading it into stylegan2_ref.Generator(**config) with strict=True (names and
shapes), then written in state_dict order as float32 with the completed config in the metadata.
"""
import argparse
import collections
import io
import json
import os
import pickle
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylegan2_ref as sg  # noqa: E402


class PersistentRecord:
    """Stands in for a torch_utils.persistence object: class name + pickled state, no code."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError("persistent object meta is not a dict")
        self.class_name = meta.get("class_name")
        self.version = meta.get("version")
        self.kind = meta.get("type")
        self.state = meta.get("state") or {}
        self.module_src_len = len(meta.get("module_src") or "")

    def __repr__(self):
        return f"<PersistentRecord {self.class_name}>"


class EasyDictRecord(dict):
    """dnnlib.util.EasyDict as a plain dict."""


def _load_storage_bytes(b):
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


def _rebuild_parameter(data, requires_grad, backward_hooks, *state):
    return data  # a Parameter's tensor is all we need


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or not isinstance(data, (bytes, type(None))):
        raise pickle.UnpicklingError("bad numpy scalar")
    if data is None:
        return dtype.type(0)
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str) or len(spec) > 8:
        raise pickle.UnpicklingError("bad numpy dtype")
    return np.dtype(spec)


def _numpy_reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("numpy _reconstruct of a non-ndarray")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype(dtype_code) if isinstance(dtype_code, bytes) else dtype_code)


def _codecs_encode(text, encoding="utf-8"):
    # protocol 2 writes bytes objects as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("bad bytes encoding in pickle")
    return text.encode("latin1")


_ALLOWED = {
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "__builtin__":  # protocol 0-2 pickles name the Python 2 module
            module = "builtins"
        fn = _ALLOWED.get((module, name))
        if fn is None:
            hint = " (a TensorFlow-era pickle: convert it with legacy.py first)" if module.startswith("dnnlib.tflib") else ""
            raise pickle.UnpicklingError(f"refused to load global '{module}.{name}' from the pickle{hint}")
        return fn

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not supported")


def safe_load_pickle(path):
    with open(path, "rb") as f:
        return RestrictedUnpickler(f).load()


def flatten_record(rec, prefix=""):
    """state_dict order: own parameters, own persistent buffers, then children (recursively)."""
    if not isinstance(rec, PersistentRecord):
        raise ValueError(f"{prefix or 'network'}: expected a persistent network object, got {type(rec).__name__}")
    st = rec.state
    out = collections.OrderedDict()
    nonpersist = set(st.get("_non_persistent_buffers_set") or ())
    for name, t in (st.get("_parameters") or {}).items():
        if t is not None:
            out[prefix + name] = t
    for name, t in (st.get("_buffers") or {}).items():
        if t is not None and name not in nonpersist:
            out[prefix + name] = t
    for name, child in (st.get("_modules") or {}).items():
        if child is not None:
            out.update(flatten_record(child, prefix + name + "."))
    for k, t in out.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{k}: not a tensor ({type(t).__name__})")
    return out


_G_ARGS = ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"]


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def record_config(rec):
    st = rec.state
    kwargs = dict(_plain(st.get("_init_kwargs") or {}))
    for name, v in zip(_G_ARGS, st.get("_init_args") or ()):
        kwargs[name] = _plain(v)
    missing = [k for k in _G_ARGS[:5] if k not in kwargs]
    if missing:
        raise ValueError(f"generator init kwargs lack {missing} (class {rec.class_name})")
    return kwargs


def convert(inp, out, config_path=None, net="G_ema"):
    if config_path:
        with open(config_path) as f:
            cfg = json.load(f)
        sd = torch.load(inp, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        source = f"state_dict {os.path.basename(inp)} + {os.path.basename(config_path)}"
    else:
        data = safe_load_pickle(inp)
        if isinstance(data, tuple):
            raise ValueError(f"{inp}: looks like a TensorFlow-era pickle (tuple); not supported")
        if not isinstance(data, dict) or net not in data:
            raise ValueError(f"{inp}: no '{net}' network in the pickle (keys: "
                             f"{sorted(data) if isinstance(data, dict) else type(data).__name__})")
        rec = data[net]
        if not isinstance(rec, PersistentRecord):
            raise ValueError(f"{inp}: '{net}' is not a persistent network object")
        cfg = record_config(rec)
        sd = flatten_record(rec)
        source = f"pickle {os.path.basename(inp)}[{net}] class {rec.class_name}"
    cfg = sg.normalize_config(cfg)
    G = sg.Generator(**cfg)
    try:
        G.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{inp}: tensors do not match the config: {e}") from None
    sg.save_generator(out, G.eval(), {"qforge.stylegan2.source": source,
                                      "qforge.made_by": "tools/python/convert_stylegan2.py"})
    return G, cfg


# ----------------------------------------------------------------------------------------------- self test
# Builds a pickle with the same structure as an official network pickle (persistent objects whose reduce
# function lives in a module called torch_utils.persistence, EasyDict kwargs, numpy scalar attributes),
# converts it and compares, then checks that a malicious pickle is refused without running its payload.


def make_fake_official_pickle(G, path, protocol=4):
    import types
    pers = types.ModuleType("torch_utils.persistence")
    dn = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):
        raise RuntimeError("never called by the converter")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    dn.EasyDict = EasyDict
    saved = {k: sys.modules.get(k) for k in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    sys.modules.update({"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": pers,
                        "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": dn})

    class Persist:
        def __init__(self, module, init_kwargs):
            self.m, self.kw = module, init_kwargs

        def __reduce__(self):
            m = self.m
            state = {k: v for k, v in m.__dict__.items() if k not in ("_modules", "init_kwargs")}
            state["_modules"] = collections.OrderedDict(
                (n, Persist(c, {}) if c is not None else None) for n, c in m._modules.items())
            state["_init_args"] = ()
            state["_init_kwargs"] = self.kw
            for k in ("weight_gain", "bias_gain"):
                if k in state:
                    state[k] = np.float64(state[k])  # the official code stores numpy scalars here
            state = {k: v for k, v in state.items() if not callable(v) or isinstance(v, torch.Tensor)}
            meta = dict(type="class", version=6, module_src="# training/networks.py (fake, never executed)\n",
                        class_name=type(m).__name__, state=state)
            return (_reconstruct_persistent_obj, (meta,))
    try:
        k = G.init_kwargs
        kw = dict(z_dim=k["z_dim"], c_dim=k["c_dim"], w_dim=k["w_dim"], img_resolution=k["img_resolution"],
                  img_channels=k["img_channels"], mapping_kwargs=EasyDict(k["mapping_kwargs"]),
                  synthesis_kwargs=EasyDict(k["synthesis_kwargs"]))
        obj = {"G": Persist(G, kw), "D": None, "G_ema": Persist(G, kw),
               "training_set_kwargs": EasyDict(path="fake.zip", use_labels=True), "augment_pipe": None}
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def self_test():
    torch.manual_seed(1)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        G = sg.Generator(z_dim=8, c_dim=3, w_dim=16, img_resolution=8, img_channels=2,
                         mapping_kwargs=dict(num_layers=2),
                         synthesis_kwargs=dict(channel_base=64, channel_max=8, conv_clamp=256)).eval()
        with torch.no_grad():
            G.mapping.w_avg.normal_()
        for proto in (2, 3, 4):
            pkl = os.path.join(d, f"net{proto}.pkl")
            make_fake_official_pickle(G, pkl, protocol=proto)
            out = os.path.join(d, "out.qf")
            G2, _ = convert(pkl, out)
            meta, tensors = sg.read_container(out)
            sd = G.state_dict()
            same = list(tensors) == list(sd) and all(np.array_equal(tensors[k], sd[k].numpy()) for k in sd)
            print(f"pickle protocol {proto}: {len(tensors)} tensors, identical={same}")
            ok &= same
        # state_dict + config path
        sdp, cfgp = os.path.join(d, "sd.pt"), os.path.join(d, "g.json")
        torch.save(G.state_dict(), sdp)
        with open(cfgp, "w") as f:
            json.dump(G.init_kwargs, f)
        convert(sdp, os.path.join(d, "out2.qf"), cfgp)
        _, t2 = sg.read_container(os.path.join(d, "out2.qf"))
        same = all(np.array_equal(t2[k], v.numpy()) for k, v in G.state_dict().items())
        print(f"state_dict + config: identical={same}")
        ok &= same
        # malicious pickle: the payload would create a file
        marker = os.path.join(d, "pwned")
        evil = os.path.join(d, "evil.pkl")
        with open(evil, "wb") as f:
            pickle.dump({"G_ema": _Evil(f"touch {marker}")}, f)
        try:
            convert(evil, os.path.join(d, "out3.qf"))
            print("malicious pickle: NOT refused")
            ok = False
        except pickle.UnpicklingError as e:
            ran = os.path.exists(marker)
            print(f"malicious pickle refused: {e}; payload ran={ran}")
            ok &= not ran
        # a pickle whose tensors do not fit its config
        bad = os.path.join(d, "bad.pkl")
        G3 = sg.Generator(z_dim=8, c_dim=3, w_dim=16, img_resolution=8, img_channels=2,
                          mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
        G3.init_kwargs["img_channels"] = 3
        make_fake_official_pickle(G3, bad)
        try:
            convert(bad, os.path.join(d, "out4.qf"))
            print("mismatched pickle: NOT refused")
            ok = False
        except ValueError as e:
            print(f"mismatched pickle refused: {str(e).splitlines()[0][:160]}")
    print("SELF-TEST", "PASSED" if ok else "FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?")
    ap.add_argument("-o", "--output")
    ap.add_argument("--config", help="JSON Generator kwargs (for a plain state_dict input)")
    ap.add_argument("--net", default="G_ema", help="which network of a pickle (default G_ema)")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(0 if self_test() else 1)
    if not a.input or not a.output:
        ap.error("INPUT and -o OUT are required")
    try:
        G, cfg = convert(a.input, a.output, a.config, a.net)
    except (ValueError, pickle.UnpicklingError, OSError, json.JSONDecodeError, RuntimeError) as e:
        print(f"convert_stylegan2: {e}", file=sys.stderr)
        sys.exit(1)
    n = sum(v.numel() for v in G.state_dict().values())
    print(f"wrote {a.output}: {len(G.state_dict())} tensors, {n} floats, config {json.dumps(cfg)}")


if __name__ == "__main__":
    main()
