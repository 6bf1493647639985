//! A Keras-like model summary: layer (type), output shape, parameter count, then totals.

use super::Sequential;
use crate::layers::ParamKind;
use std::collections::HashMap;
use std::fmt::Write;

/// Thousands separators, as Keras prints counts: 73338 → "73,338".
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The summary table of `model`; each column as wide as its widest cell, so long layer names
/// keep the table a table.
pub fn summary(model: &Sequential) -> String {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rows: Vec<[String; 3]> = vec![[
        "Layer (type)".into(),
        "Output Shape".into(),
        "Param #".into(),
    ]];
    for (i, layer) in model.layers().enumerate() {
        let base = layer.kind().keras_layer_name();
        let count = seen.entry(base).or_insert(0);
        let name = if *count == 0 {
            base.to_string()
        } else {
            format!("{base}_{count}")
        };
        *count += 1;
        let s = layer.output_shape();
        let shape = if model.is_flat(i) {
            format!("(None, {})", s.len())
        } else {
            format!("(None, {}, {}, {})", s.h, s.w, s.c)
        };
        let params: usize = layer
            .params()
            .iter()
            .filter(|p| p.kind != ParamKind::Constant)
            .map(|p| p.len())
            .sum();
        rows.push([
            format!("{name} ({})", layer.type_name()),
            shape,
            group_thousands(params),
        ]);
    }
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let total = 1 + w0 + 3 + w1 + 3 + w2;
    let (rule, double) = ("_".repeat(total), "=".repeat(total));
    let mut out = String::new();
    let config = model.config();
    let _ = writeln!(out, "Model: \"{}\"  ({})", config.name, config.arch);
    let _ = writeln!(out, "{rule}");
    for (i, [layer, shape, params]) in rows.iter().enumerate() {
        let _ = writeln!(out, " {layer:<w0$}   {shape:<w1$}   {params:>w2$}");
        if i == 0 {
            let _ = writeln!(out, "{double}");
        }
    }
    let (trainable, non_trainable) = model.params.counts();
    let _ = writeln!(out, "{double}");
    let _ = writeln!(
        out,
        "Total params: {}",
        group_thousands(trainable + non_trainable)
    );
    let _ = writeln!(out, "Trainable params: {}", group_thousands(trainable));
    let _ = writeln!(
        out,
        "Non-trainable params: {}",
        group_thousands(non_trainable)
    );
    let _ = write!(out, "{rule}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{ModelConfig, Normalization};

    #[test]
    fn cnn_bn_summary_has_keras_totals_and_names() {
        let model = Sequential::new(
            ModelConfig::new("cnn-bn", Dataset::Mnist, Normalization::Standardize),
            0,
        )
        .unwrap();
        let text = summary(&model);
        assert!(text.contains("Total params: 73,338"), "{text}");
        assert!(text.contains("Trainable params: 72,890"), "{text}");
        assert!(text.contains("Non-trainable params: 448"), "{text}");
        assert!(text.contains("conv2d_1 (Conv2D)"), "{text}");
        assert!(text.contains("(None, 7, 7, 64)"), "{text}");
        assert!(text.contains("(None, 10)"), "{text}");
    }

    /// Every row's cells start at the same columns, on every preset.
    #[test]
    fn columns_line_up_on_every_preset() {
        for preset in ["linear", "mlp", "cnn", "cnn-bn"] {
            let model = Sequential::new(
                ModelConfig::new(preset, Dataset::Mnist, Normalization::None),
                0,
            );
            let text = summary(&model.unwrap());
            let lines: Vec<&str> = text.lines().collect();
            let header = lines[2];
            let shape_col = header.find("Output Shape").unwrap();
            let end = header.chars().count();
            let rows: Vec<&&str> = lines.iter().filter(|l| l.contains("(None,")).collect();
            assert!(rows.len() >= 3, "{text}");
            for row in rows {
                let col = row.find("(None,").unwrap();
                assert_eq!(col, shape_col, "{preset}: {row:?}\n{text}");
                assert_eq!(
                    row.chars().count(),
                    end,
                    "{preset}: counts right-aligned: {row:?}"
                );
            }
            let rule = lines[1].chars().count();
            assert!(
                lines.iter().skip(2).all(|l| l.chars().count() <= rule),
                "{text}"
            );
        }
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(269_322), "269,322");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
