"""Keras (TensorFlow backend) side of experiments/compare: the four models trained as mnistlab trains them.

Keras on this kind of machine sometimes idles for seconds at the first batch of an epoch; an epoch's
time is therefore measured from the end of its first batch and scaled by steps / (steps − 1)."""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import peer_common as common  # noqa: E402

args = common.parse_args("Keras")
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(args.threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras  # noqa: E402
from keras import layers  # noqa: E402


def build(name):
    stack = [keras.Input((28, 28, 1))]
    if name == "linear":
        stack += [layers.Flatten(), layers.Dense(10)]
    elif name == "mlp":
        stack += [layers.Flatten(), layers.Dense(256, "relu"), layers.Dense(256, "relu"), layers.Dense(10)]
    elif name == "cnn":
        for filters in (16, 32, 64):
            stack += [layers.Conv2D(filters, 5, padding="same", activation="relu"), layers.MaxPooling2D()]
        stack += [layers.Flatten(), layers.Dense(128, "relu"), layers.Dense(64, "relu"), layers.Dense(10)]
    else:
        for i, filters in enumerate((16, 16, 32, 32, 64, 64)):
            stack += [layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(), layers.ReLU()]
            if i in (1, 3):
                stack.append(layers.MaxPooling2D())
        stack += [layers.GlobalAveragePooling2D(), layers.Dense(10)]
    return keras.Sequential(stack)


class EpochClock(keras.callbacks.Callback):
    """Epoch seconds from the end of the first batch, scaled to the whole epoch."""

    def __init__(self):
        super().__init__()
        self.seconds, self.val_accuracy = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps, self.first_end = 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.first_end is None:
            self.first_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.first_end
        self.seconds.append(elapsed * self.steps / max(self.steps - 1, 1))
        if logs and "val_accuracy" in logs:
            self.val_accuracy.append(float(logs["val_accuracy"]))


def main():
    keras.utils.set_random_seed(0)
    x, y, x_val, y_val, x_test, _ = common.load_mnist(args.data_dir)
    model = build(args.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    clock = EpochClock()
    bs = args.batch_size
    if args.steps:
        images = args.steps * bs
        model.fit(x[:images], y[:images], batch_size=bs, epochs=args.passes, shuffle=True,
                  callbacks=[clock], verbose=0)
    else:
        model.fit(x, y, batch_size=bs, epochs=args.epochs, shuffle=True,
                  validation_data=(x_val, y_val), callbacks=[clock], verbose=0)
    batches = x_test[: args.inference_batches * bs]
    inference = len(batches) / common.timed(lambda: model.predict(batches, batch_size=bs, verbose=0))
    singles = [x_test[i:i + 1] for i in range(args.single_images)]
    # One image at a time through predict_on_batch, which skips predict()'s per-call dataset set-up.
    single = len(singles) / common.timed(lambda: [model.predict_on_batch(s) for s in singles])
    common.report("Keras", args, clock.seconds, clock.val_accuracy, inference, single)


if __name__ == "__main__":
    sys.exit(main())
