"""The tutorial's BN+GAP CNN trained by `model.fit` in mnistlab's Python package or in Keras, by
the same code (only the imports and the schedule's spelling differ), as a notebook would run it.

Both read the MNIST IDX files of --data-dir, standardize with the tutorial's `Lambda` (one global
mean and standard deviation of the training images), hold out the last 10% (`validation_split`),
and train with batch 128 and Adam 1e-3 decayed to zero over the run by a cosine, on --threads
threads. Prints one JSON line: the fit's wall time, each epoch's time and the test accuracy.

    python experiments/bn_gap_fit.py mnistlab --data-dir "$MNISTLAB_DATA/mnist" --epochs 8
    $MNISTLAB_BENCH_VENV/bin/python experiments/bn_gap_fit.py keras --data-dir ... --epochs 8
"""

import argparse
import json
import os
import time

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("framework", choices=("mnistlab", "keras"))
p.add_argument("--data-dir", required=True, help="folder with the four MNIST IDX files")
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

import peer_common as common  # noqa: E402

if args.framework == "keras":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import Input, callbacks
    from keras.layers import (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        GlobalAveragePooling2D,
        Lambda,
        MaxPooling2D,
    )
    from keras.models import Model

    keras.utils.set_random_seed(args.seed)
else:
    from mnistlab import Input, callbacks
    from mnistlab.layers import (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        GlobalAveragePooling2D,
        Lambda,
        MaxPooling2D,
    )
    from mnistlab.models import Model


def idx(name):
    return common._idx(common._find(args.data_dir, name))


X_train = idx("train-images-idx3-ubyte").reshape((-1, 28, 28, 1))
y_train = idx("train-labels-idx1-ubyte")
X_test = idx("t10k-images-idx3-ubyte").reshape((-1, 28, 28, 1))
y_test = idx("t10k-labels-idx1-ubyte")
held_out = len(X_train) // 10
mean = float(X_train[:-held_out].mean())
std = float(X_train[:-held_out].std())

xi = Input(shape=(28, 28, 1))
x = Lambda(lambda image, mu, std: (image - mu) / std, arguments={"mu": mean, "std": std})(xi)
for i, filters in enumerate((16, 32, 64)):
    for _ in range(2):
        x = Conv2D(filters, kernel_size=3, strides=1, padding="same")(x)
        x = BatchNormalization()(x)
        x = Activation("relu")(x)
    x = MaxPooling2D(pool_size=2, strides=2)(x) if i < 2 else GlobalAveragePooling2D()(x)
yo = Dense(10, activation="softmax")(x)
seeded = {} if args.framework == "keras" else {"seed": args.seed}
model = Model(inputs=[xi], outputs=[yo], **seeded)

steps = -(-(len(X_train) - held_out) // 128)
if args.framework == "keras":
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=args.epochs * steps)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.Adam(schedule),
        metrics=["accuracy"],
    )
else:
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer="adam",
        metrics=["accuracy"],
        schedule="cosine",
        threads=args.threads,
    )


class EpochClock(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds.append(round(time.perf_counter() - self.start, 2))


seconds = []
start = time.perf_counter()
model.fit(
    X_train,
    y_train,
    batch_size=128,
    epochs=args.epochs,
    verbose=0,
    validation_split=0.1,
    callbacks=[EpochClock()],
)
fit_seconds = time.perf_counter() - start
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print(
    json.dumps(
        {
            "framework": args.framework,
            "epochs": args.epochs,
            "threads": args.threads,
            "fit_seconds": round(fit_seconds, 1),
            "epoch_seconds": seconds,
            "test_accuracy": round(float(accuracy), 4),
            "test_loss": round(float(loss), 4),
            "load_average": os.getloadavg(),
        }
    )
)
