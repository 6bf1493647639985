//! The tutorial's models by name, written in the architecture notation.

/// (name, notation, what it is) of each preset.
pub const PRESETS: [(&str, &str, &str); 5] = [
    ("linear", "D10", "softmax regression, 7,850 parameters"),
    ("mlp", "D256-ReLU-D256-ReLU-D10", "multilayer perceptron 256-256, 269,322 parameters"),
    (
        "cnn",
        "16C5-ReLU-MP2-32C5-ReLU-MP2-64C5-ReLU-MP2-D128-ReLU-D64-ReLU-D10",
        "LeNet-like CNN with 5×5 kernels, 147,274 parameters",
    ),
    (
        "cnn-bn",
        "16C3-BN-ReLU-16C3-BN-ReLU-MP2-32C3-BN-ReLU-32C3-BN-ReLU-MP2-64C3-BN-ReLU-64C3-BN-ReLU-GAP-D10",
        "small-kernel CNN with batch norm and global average pooling, 73,338 parameters",
    ),
    (
        "cnn-deep",
        "32C3v-BN-ReLU-32C3v-BN-ReLU-32C5s2-BN-ReLU-Drop0.4-64C3v-BN-ReLU-64C3v-BN-ReLU-64C5s2-BN-ReLU-Drop0.4-128C4v-BN-ReLU-F-Drop0.4-D10",
        "all-convolutional CNN beyond the tutorial (strided 5×5 instead of pooling, dropout after each block), 327,242 parameters",
    ),
];

/// The notation of preset `name`.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, arch, _)| *arch)
}

/// The preset names, comma-separated, for error messages.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}
