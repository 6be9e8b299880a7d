"""X-ray classifier, export: the members merged into one graph, ONNX export (BN folded, opset 13),
cross-layer equalisation, weight-only int8, the checks against torch, and the golden files for the
Rust tests.

The exported graph computes probability = sigmoid(mean(cam) / T) of the mean-logit ensemble, the
members merged into one plain CNN (grouped convs, see merge_members). Before quantization the
float graph's conv weights are equalised across layers (same function, even per-tensor ranges);
the int8 model stores every conv weight as u8 with one scale and zero point per tensor behind a
DequantizeLinear (weight-only: activations and biases float), which tract folds into float
constants at load, so it runs at the float model's speed (quantize_weights).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from training.common import ort_session as _ort_session, sha256_file, write_json
from training.xray import log
from training.xray import preprocess as P
from training.xray.data import SOURCES
from training.xray.metrics import ort_run
from training.xray.model import THREADS, XrayNet, predict_torch

OPSET = 13


def fold_bn(model: XrayNet) -> nn.Sequential:
    """A copy of model.features with every BatchNorm folded into the preceding conv (eval mode)."""
    out = []
    mods = list(model.features)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            bn = mods[i + 1]
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=True)
            s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.data = m.weight.detach() * s.view(-1, 1, 1, 1)
            b0 = m.bias.detach() if m.bias is not None else torch.zeros_like(bn.running_mean)
            conv.bias.data = (b0 - bn.running_mean) * s + bn.bias.detach()
            out.append(conv)
            i += 2
        else:
            out.append(nn.ReLU() if isinstance(m, nn.ReLU) else m)
            i += 1
    return nn.Sequential(*out)


def merge_members(models) -> tuple[nn.Sequential, nn.Conv2d]:
    """One plain CNN that computes a mean-logit ensemble of ``models`` exactly, for export.

    Every member's BN-folded features are stacked side by side: the first conv concatenates the
    members' output channels (they all read the same image), each later conv is a grouped conv with
    one group per member (weights concatenated along the output axis), ReLU and max-pool act per
    channel, and the 1x1 head reads all members' channels with weights / N and the mean bias. So
    cam = mean of the members' CAMs and logit = mean(cam) = mean of the members' logits. With one
    member this is the member itself."""
    n = len(models)
    folded = [list(fold_bn(m)) for m in models]
    layers = []
    for i, first in enumerate(folded[0]):
        if isinstance(first, nn.Conv2d):
            convs = [f[i] for f in folded]
            groups = 1 if first.in_channels == 1 else n
            conv = nn.Conv2d(first.in_channels * (1 if groups == 1 else n), first.out_channels * n, first.kernel_size,
                             padding=first.padding, bias=True, groups=groups)
            conv.weight.data = torch.cat([c.weight.detach() for c in convs], dim=0)
            conv.bias.data = torch.cat([c.bias.detach() for c in convs], dim=0)
            layers.append(conv)
        else:
            layers.append(first)
    h0 = models[0].head
    head = nn.Conv2d(h0.in_channels * n, 1, 1, bias=True)
    head.weight.data = torch.cat([m.head.weight.detach() for m in models], dim=1) / n
    head.bias.data = torch.stack([m.head.bias.detach() for m in models]).mean(0)
    return nn.Sequential(*layers), head


class ExportNet(nn.Module):
    """The exported graph: image -> (probability, cam) of the mean-logit ensemble of ``models``."""

    def __init__(self, models, temperature: float):
        super().__init__()
        self.features, self.head = merge_members(models)
        self.register_buffer("inv_t", torch.tensor([[1.0 / temperature]], dtype=torch.float32))

    def forward(self, image):
        cam = self.head(self.features(image))
        logit = torch.mean(cam, dim=(2, 3))  # [1, 1]
        probability = torch.sigmoid(logit * self.inv_t)
        return probability, cam



def export_onnx(models, temperature, path: Path):
    import onnx

    net = ExportNet(models, temperature).eval()
    dummy = torch.zeros(1, 1, P.SIZE, P.SIZE)
    torch.onnx.export(net, dummy, str(path), input_names=["image"], output_names=["probability", "cam"],
                      opset_version=OPSET, do_constant_folding=True, dynamo=False)
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    assert "BatchNormalization" not in ops, ops
    allowed = {"Conv", "Relu", "MaxPool", "ReduceMean", "GlobalAveragePool", "Div", "Mul", "Sigmoid", "Reshape", "Flatten", "Squeeze"}
    assert set(ops) <= allowed, ops
    return ops


def equalize_onnx(path: Path, iters: int = 10):
    """Cross-layer equalisation (Nagel et al. 2019) in place on the exported float graph: for each
    pair of consecutive convs joined by ReLU (and max-pool), output channel i of the first is divided
    by s_i and input channel i of the second multiplied by s_i, with s_i = sqrt(r1_i / r2_i) (r = max
    |weight| of that channel). ReLU and max-pool commute with positive scaling, so the function is
    unchanged, but the per-tensor weight ranges become even, which per-tensor int8 needs."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    w = [numpy_helper.to_array(inits[c.input[1]]).astype(np.float64) for c in convs]
    b = [numpy_helper.to_array(inits[c.input[2]]).astype(np.float64) for c in convs]
    groups = [next((a.i for a in c.attribute if a.name == "group"), 1) for c in convs]

    def by_input(k):
        """View of conv k's weight as [groups, out per group, in per group, kh, kw]: input channel
        g * in_per_group + j is column j of group g."""
        o, ig, kh, kw = w[k].shape
        return w[k].reshape(groups[k], o // groups[k], ig, kh, kw)

    for _ in range(iters):
        for k in range(len(convs) - 1):
            r1 = np.abs(w[k]).reshape(w[k].shape[0], -1).max(1)
            r2 = np.abs(by_input(k + 1)).max(axis=(1, 3, 4)).reshape(-1)
            assert r2.shape == r1.shape, (r1.shape, r2.shape)
            s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.maximum(r2, 1e-30)), 1.0)
            w[k] /= s[:, None, None, None]
            b[k] /= s
            by_input(k + 1)[...] *= s.reshape(groups[k + 1], 1, -1, 1, 1)
    for c, wk, bk in zip(convs, w, b):
        inits[c.input[1]].CopyFrom(numpy_helper.from_array(wk.astype(np.float32), c.input[1]))
        inits[c.input[2]].CopyFrom(numpy_helper.from_array(bk.astype(np.float32), c.input[2]))
    onnx.save(m, str(path))


def quantize_weights(float_path: Path, int8_path: Path):
    """Weight-only int8 (u8) from the equalised float graph: each conv's weight becomes a u8
    initializer with one scale and zero point for the whole tensor (asymmetric, the range
    [min(w, 0), max(w, 0)] mapped to 0..255) and a DequantizeLinear in front of the conv; biases
    and activations stay float. A DequantizeLinear whose inputs are all constants is folded into
    a float constant when tract optimises the model (PropConst), so tract runs exactly the float
    graph's operators with the dequantized weights: int8 on disk (a quarter of the float file),
    float speed at run time. Static QDQ on the activations (the previous form) made tract run 36
    QuantizeLinear/DequantizeLinear passes per image, about 2x the float time (profile in
    training/xray/EXPERIMENTS.md). Returns the int8 graph's ops and the largest weight rounding
    error relative to its tensor's scale (at most 0.5 by construction)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(float_path))
    inits = {i.name: i for i in m.graph.initializer}
    nodes, worst = [], 0.0
    for n in m.graph.node:
        if n.op_type == "Conv":
            name = n.input[1]
            w = numpy_helper.to_array(inits[name]).astype(np.float64)
            lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
            scale = np.float32((hi - lo) / 255.0 if hi > lo else 1.0)
            zp = int(np.clip(np.round(-lo / float(scale)), 0, 255))
            q = np.clip(np.round(w / float(scale)) + zp, 0, 255).astype(np.uint8)
            worst = max(worst, float(np.abs((q.astype(np.float64) - zp) * float(scale) - w).max() / float(scale)))
            m.graph.initializer.remove(inits[name])
            m.graph.initializer.extend([numpy_helper.from_array(q, name + "_quantized"),
                                        numpy_helper.from_array(np.array(scale, np.float32), name + "_scale"),
                                        numpy_helper.from_array(np.array(zp, np.uint8), name + "_zero_point")])
            nodes.append(helper.make_node("DequantizeLinear", [name + "_quantized", name + "_scale", name + "_zero_point"],
                                          [name], name=name + "_DequantizeLinear"))
        nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(int8_path))
    q = onnx.load(str(int8_path))
    ops = sorted({n.op_type for n in q.graph.node})
    qinits = {i.name: i for i in q.graph.initializer}
    for n in q.graph.node:
        if n.op_type == "DequantizeLinear":
            assert not any(a.name == "axis" for a in n.attribute), "per-channel DequantizeLinear"
            assert all(i in qinits for i in n.input), "DequantizeLinear of a non-constant"
            assert int(np.prod(qinits[n.input[1]].dims)) == 1, "per-channel scale"
            assert qinits[n.input[2]].data_type == onnx.TensorProto.UINT8, "zero point not u8"
    assert not {"QuantizeLinear", "QLinearConv", "ConvInteger", "QGemm", "QLinearMatMul"} & set(ops), ops
    assert worst <= 0.5 + 1e-6, worst
    return ops, worst


def ort_session(path: Path):
    """An onnxruntime session with THREADS intra-op threads."""
    return _ort_session(path, THREADS)


def export_models(models, temperature, float_path: Path, int8_path: Path, inp, idx, args):
    """Writes the float graph (BN folded, equalised) and the weight-only int8 graph; checks the float
    graph against torch and the merged graph against the members' mean logit on 16 holdout images.
    Returns the float ops, the int8 ops and the float graph's max difference to torch."""
    float_ops = export_onnx(models, temperature, float_path)
    equalize_onnx(float_path)
    with torch.no_grad():
        tp, tc = ExportNet(models, temperature).eval()(torch.from_numpy(inp[idx["holdout"][:16], None]))
    op_, oc_ = ort_run(ort_session(float_path), inp[idx["holdout"][:16]])
    export_diff = float(max(np.abs(op_ - tp.numpy()[:, 0]).max(), np.abs(oc_ - tc.numpy()[:, 0]).max()))
    log(f"float ONNX (BN folded, equalised) vs torch: max diff {export_diff:.2e}")
    assert export_diff < 1e-3, export_diff
    # the merged graph must be the members' mean logit, checked against the members themselves
    member_mean = np.mean([predict_torch(m, inp[idx["holdout"][:16]]) for m in models], axis=0)
    merge_diff = float(np.abs(oc_.reshape(len(oc_), -1).mean(1) - member_mean).max())
    log(f"merged graph's logit vs mean of the {len(models)} members' logits: max diff {merge_diff:.2e}")
    assert merge_diff < 1e-3, merge_diff
    int8_ops, _ = quantize_weights(float_path, int8_path)
    return float_ops, int8_ops, export_diff


def synthetic_images(seed=1234):
    rng = np.random.RandomState(seed)
    out = []
    for name, (w, h) in (("synthetic_37x53", (37, 53)), ("synthetic_300x200", (300, 200)), ("synthetic_90x150", (90, 150))):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = 0.5 + 0.25 * np.sin(xx / w * 5.1 + 0.3) * np.cos(yy / h * 3.7) + 0.15 * (yy / h) - 0.1 * (xx / w)
        img += 0.04 * rng.randn(h, w)
        img = np.clip(img, 0.0, 1.0)
        out.append((name, img))
    return out



def write_goldens(out: Path, data: Path, rows, float_sess, int8_sess, temperature, threshold):
    g = out / "golden"
    g.mkdir(parents=True, exist_ok=True)
    entries, model_out = [], []
    for name, img in synthetic_images():
        h, w = img.shape
        img.astype("<f8").tofile(g / f"{name}.gray.f64")
        inp = P.preprocess(img)
        inp.astype("<f4").tofile(g / f"{name}.input.f32")
        entries.append({"name": name, "kind": "synthetic", "width": w, "height": h,
                        "gray": f"{name}.gray.f64", "gray_sha256": sha256_file(g / f"{name}.gray.f64"),
                        "input": f"{name}.input.f32", "input_sha256": sha256_file(g / f"{name}.input.f32")})
    # three real images, one per source, from the holdout split (first by filename)
    for s in SOURCES:
        r = sorted([r for r in rows if r["source"] == s and r["split"] == "holdout"], key=lambda r: r["filename"])[0]
        img = P.load_gray(data / r["filename"])
        h, w = img.shape
        name = f"real_{s}"
        inp = P.preprocess(img)
        inp.astype("<f4").tofile(g / f"{name}.input.f32")
        entries.append({"name": name, "kind": "real", "source": s, "label": r["label"], "width": w, "height": h,
                        "path": r["filename"], "path_base": "../shared/data/xray", "file_sha256": sha256_file(data / r["filename"]),
                        "input": f"{name}.input.f32", "input_sha256": sha256_file(g / f"{name}.input.f32")})
    for e in entries:
        inp = np.fromfile(g / e["input"], dtype="<f4").reshape(1, 1, P.SIZE, P.SIZE)
        rec = {"name": e["name"]}
        for tag, sess in (("float", float_sess), ("int8", int8_sess)):
            p, c = sess.run(["probability", "cam"], {"image": inp})
            rec[tag] = {"probability": float(p[0, 0]), "cam": [[float(v) for v in row] for row in c[0, 0]]}
        model_out.append(rec)
    index = {
        "preprocess_version": P.PREPROCESS_VERSION,
        "tolerance_input": 1e-4,
        "layout": "gray: raw little-endian f64, row-major H x W (row 0 = top), values in [0, 1]; "
                  "input: raw little-endian f32, row-major 128 x 128 = the model input [1, 1, 128, 128]",
        "images": entries,
    }
    write_json(g / "index.json", index, indent=1)
    write_json(g / "model_outputs.json", {
        "models": {"float": "xray_float.onnx", "int8": "xray_int8.onnx"},
        "temperature": temperature, "threshold": threshold,
        "note": "onnxruntime 1.20.1 outputs for golden/<name>.input.f32",
        "cases": model_out}, indent=1)
    return entries

