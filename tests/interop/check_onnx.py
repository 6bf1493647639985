"""Checks an exported ONNX file with the real onnx checker and ONNX Runtime.

Usage: check_onnx.py MODEL.onnx IMAGES.u8 PROBS.f32 [LABELS.u8]
IMAGES: N raw 28x28 images (uint8); PROBS: mnistlab's probabilities (float32, N x classes).
Prints one JSON object: max_abs_diff, argmax_equal, n, metadata, and with labels the number
of images ONNX Runtime classifies correctly.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, images_path, probs_path = sys.argv[1:4]
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
out_shapes = {
    o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
    for o in inferred.graph.output
}

images = np.fromfile(images_path, dtype=np.uint8).reshape(-1, 1, 28, 28).astype(np.float32)
want = np.fromfile(probs_path, dtype="<f4").reshape(images.shape[0], -1)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
assert [i.name for i in session.get_inputs()] == ["image"]
assert [o.name for o in session.get_outputs()] == ["probabilities", "logits"]

# Batch 64 over everything, and batch 1 over the first images: both must work and agree.
got = np.concatenate(
    [session.run(["probabilities"], {"image": images[i : i + 64]})[0] for i in range(0, len(images), 64)]
)
for i in range(min(8, len(images))):
    one, logits = session.run(None, {"image": images[i : i + 1]})
    assert one.shape == (1, want.shape[1]), one.shape
    assert np.allclose(one[0], got[i], atol=1e-5), (one[0], got[i])
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(softmax, one, atol=1e-5)

result = {
    "n": int(len(images)),
    "max_abs_diff": float(np.abs(got - want).max()),
    "argmax_equal": bool((got.argmax(1) == want.argmax(1)).all()),
    "sums_to_one": bool(np.allclose(got.sum(1), 1.0, atol=1e-5)),
    "output_shapes": out_shapes,
    "metadata": {p.key: p.value for p in model.metadata_props},
    "opset": int(model.opset_import[0].version),
}
if len(sys.argv) > 4:
    labels = np.fromfile(sys.argv[4], dtype=np.uint8)
    result["correct"] = int((got.argmax(1) == labels).sum())
print(json.dumps(result))
