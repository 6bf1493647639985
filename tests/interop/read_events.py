"""Reads a mnistlab run directory with TensorBoard's own event reader; prints what it found as JSON.

Usage: read_events.py RUN_DIR
"""
import json
import struct
import sys

from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.util import tensor_util

run = sys.argv[1]
out = {}
for sub in ["train", "validation", "summary"]:
    acc = pea.EventAccumulator(f"{run}/{sub}", size_guidance={"tensors": 0})
    acc.Reload()
    found = {}
    for tag in acc.Tags()["tensors"]:
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        items = []
        for ev in acc.Tensors(tag):
            t = tensor_util.make_ndarray(ev.tensor_proto)
            if plugin == "scalars":
                items.append({"step": ev.step, "value": float(t)})
            elif plugin == "text":
                items.append({"step": ev.step, "text": t.item().decode()})
            elif plugin == "images":
                png = t[2]
                assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
                w, h = struct.unpack(">II", png[16:24])
                items.append({"step": ev.step, "width": w, "height": h, "declared": [int(t[0]), int(t[1])]})
            elif plugin == "histograms":
                # rows of (left edge, right edge, count)
                items.append({"step": ev.step, "count": float(t[:, 2].sum())})
        found[tag] = {"plugin": plugin, "events": items}
    out[sub] = found
print(json.dumps(out))
