"""ONNX Runtime side of experiments/compare: inference only, on the file `mnistlab export` writes.

    peer_onnxruntime.py --onnx MODEL.onnx --data-dir MNIST --threads 2

Runs the exported graph (input `image`: float32 [N, 1, 28, 28], raw pixels; the normalization is
part of the graph) with the same thread count as the other frameworks, at batch `--batch-size` and
at batch 1 (the serve/predict case), and prints one JSON object as its last line, which also says
whether this process sees AVX-512 (`compare --isa avx2` hides it; see cpuid_avx2.c).
"""

import argparse
import json
import os

import numpy as np
import onnxruntime as ort
from numpy._core._multiarray_umath import __cpu_features__

import peer_common as common


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, help="the model as `mnistlab export` wrote it")
    p.add_argument("--model", help="the preset's name, echoed in the result line")
    p.add_argument("--data-dir", required=True, help="folder with the four MNIST IDX files")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--inference-batches", type=int, default=40)
    p.add_argument("--single-images", type=int, default=300)
    args = p.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])

    raw = common.raw_test_images(args.data_dir)
    x = raw.reshape(-1, 1, 28, 28).astype(np.float32)
    bs = args.batch_size
    batches = [x[i * bs:(i + 1) * bs] for i in range(args.inference_batches)]
    singles = [x[i:i + 1] for i in range(args.single_images)]

    def run(inputs):
        for image in inputs:
            session.run(["probabilities"], {"image": image})

    print(json.dumps({
        "framework": "ONNX Runtime",
        "version": ort.__version__,
        "model": args.model,
        "threads": args.threads,
        "inference_images_per_s": args.inference_batches * bs / common.timed(lambda: run(batches)),
        "single_images_per_s": args.single_images / common.timed(lambda: run(singles)),
        "cpu_avx512": bool(__cpu_features__.get("AVX512F")),
    }), flush=True)


if __name__ == "__main__":
    main()
