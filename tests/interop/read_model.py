"""Reads a mnistlab model file with the safetensors package; prints names, shapes, sums, metadata as JSON."""
import json
import sys

from safetensors import safe_open

with safe_open(sys.argv[1], framework="numpy") as f:
    tensors = {}
    for name in f.keys():
        t = f.get_tensor(name)
        tensors[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "sum": float(t.astype("float64").sum())}
    print(json.dumps({"metadata": f.metadata(), "tensors": tensors}))
