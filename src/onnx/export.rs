//! A [`Sequential`] model as one ONNX graph: NCHW input in raw pixel units, the input
//! normalization as `Sub`/`Div`, every layer as its standard operator, and two outputs,
//! `logits` and `probabilities`.

use super::proto::*;
use crate::error::{Error, Result, Setting};
use crate::layers::{BatchNormConfig, Conv2dConfig, LayerSpec};
use crate::model::{ModelConfig, Sequential};
use crate::shape::Shape;
use prost::Message;

/// Opsets accepted by [`export`]: every operator used here is unchanged across them.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;
/// The opset written by default (ONNX Runtime 1.12 and later, OpenCV 4.7 and later).
pub const DEFAULT_OPSET: i64 = 17;

/// The IR version ONNX released together with `opset` (the checker refuses older pairs).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

/// How a user feeds the graph; also the graph's `doc_string`.
pub const USAGE: &str = "Input `image`: float32 [N, 1, H, W], raw pixel values 0-255, light ink \
on a dark background as in the MNIST files (invert photos of dark ink on paper). Outputs: \
`probabilities` [N, classes] (softmax) and `logits` [N, classes]. The input normalization is \
part of the graph.";

/// The model as serialized ONNX bytes with the given opset.
pub fn export(model: &Sequential, opset: i64, version: &str) -> Result<Vec<u8>> {
    if !OPSETS.contains(&opset) {
        return Err(Error::config(
            Setting::Opset,
            format!(
                "{opset} is not supported (use {}..={})",
                OPSETS.start(),
                OPSETS.end()
            ),
        ));
    }
    let graph = GraphBuilder::new(model).build();
    let config = model.config();
    let metadata = [
        ("dataset", config.dataset.to_string()),
        ("classes", config.dataset.info().classes.join(",")),
        ("arch", config.arch.clone()),
        ("model", config.name.clone()),
        ("normalization", config.normalization.to_string()),
        ("mnistlab_version", version.to_string()),
    ];
    let proto = ModelProto {
        ir_version: ir_version(opset),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "mnistlab".into(),
        producer_version: version.into(),
        domain: String::new(),
        model_version: 1,
        doc_string: format!("{} ({})", config.arch, config.dataset),
        graph: Some(graph),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.into(),
                value,
            })
            .collect(),
    };
    Ok(proto.encode_to_vec())
}

/// Builds the graph node by node, keeping the name and layout of the current tensor.
struct GraphBuilder<'a> {
    model: &'a Sequential,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Name of the tensor the next node reads.
    current: String,
    /// Whether the current tensor is `[N, d]` rather than `[N, C, H, W]`.
    flat: bool,
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_INTS,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_INT,
        i: Some(value),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTR_FLOAT,
        f: Some(value),
        ..Default::default()
    }
}

fn tensor_value(name: &str, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
        doc_string: String::new(),
    }
}

fn dim(value: usize) -> Dimension {
    Dimension {
        value: Some(DimensionValue::DimValue(value as i64)),
    }
}

fn batch_dim() -> Dimension {
    Dimension {
        value: Some(DimensionValue::DimParam("N".into())),
    }
}

/// `values` laid out `(h, w, c)` (our NHWC sample order), reordered to `(c, h, w)`.
fn hwc_to_chw(values: &[f32], shape: Shape) -> Vec<f32> {
    let Shape { h, w, c } = shape;
    let mut out = vec![0.0; values.len()];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                out[(ch * h + y) * w + x] = values[(y * w + x) * c + ch];
            }
        }
    }
    out
}

impl<'a> GraphBuilder<'a> {
    fn new(model: &'a Sequential) -> Self {
        GraphBuilder {
            model,
            nodes: Vec::new(),
            initializers: Vec::new(),
            current: "image".into(),
            flat: false,
        }
    }

    /// The values of tensor `name` of layer `layer`.
    fn tensor(&self, layer: usize, name: &str) -> &'a [f32] {
        let key = format!("{layer}.{name}");
        let params = &self.model.params;
        let slot = params
            .slots()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("layer {layer} has no tensor {name}"));
        params.get(slot)
    }

    /// Adds a constant and returns its name.
    fn constant(&mut self, name: String, dims: &[usize], values: Vec<f32>) -> String {
        assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            float_data: Vec::new(),
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// Adds a node reading the current tensor (and `extra` inputs); its output becomes current.
    fn node(&mut self, op: &str, name: String, extra: Vec<String>, attrs: Vec<AttributeProto>) {
        let mut input = vec![std::mem::take(&mut self.current)];
        input.extend(extra);
        self.nodes.push(NodeProto {
            input,
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op.into(),
            attribute: attrs,
        });
        self.current = name;
    }

    /// Makes the current tensor `[N, d]` if it is still an image.
    fn flatten(&mut self, name: String) {
        if !self.flat {
            self.node("Flatten", name, vec![], vec![int("axis", 1)]);
            self.flat = true;
        }
    }

    /// The whole graph: the input normalization, one operator (or two) per layer, the outputs.
    fn build(mut self) -> GraphProto {
        let model = self.model;
        self.normalize(model.config().input);
        // Our shape of the current tensor: the image's until a dense layer (a flatten, and a
        // dropout after it, keep it: the dense layer that follows needs it to reorder its rows).
        let mut shape = model.config().input;
        for (i, layer) in model.layers().enumerate() {
            let Some(spec) = layer.spec() else {
                continue; // the input normalization, done above
            };
            let out = format!("{i}.{}", layer.type_name());
            match spec {
                LayerSpec::Conv(conv) => self.conv(i, out, &conv.at(shape)),
                LayerSpec::BatchNorm => self.batch_norm(i, out, shape),
                LayerSpec::Relu => self.node("Relu", out, vec![], vec![]),
                LayerSpec::MaxPool { pool, stride } => self.max_pool(out, pool, stride),
                LayerSpec::GlobalAvgPool => self.global_avg_pool(out),
                LayerSpec::Flatten => self.flatten(out),
                LayerSpec::Dense(units) => self.dense(i, out, shape, units),
                LayerSpec::Dropout(_) => {} // identity at inference
            }
            if !matches!(spec, LayerSpec::Flatten | LayerSpec::Dropout(_)) {
                shape = layer.output_shape();
            }
        }
        self.outputs(model.config())
    }

    /// Raw pixels → (x − mean) / std, with the statistics as [1, C, H, W] constants (one value
    /// each when the normalization is global).
    fn normalize(&mut self, input: Shape) {
        let (mean, std) = (self.tensor(0, "mean"), self.tensor(0, "std"));
        let uniform = |v: &[f32]| v.iter().all(|&x| x == v[0]);
        let (dims, mean, std) = if uniform(mean) && uniform(std) {
            (vec![1, 1, 1, 1], vec![mean[0]], vec![std[0]])
        } else {
            let dims = vec![1, input.c, input.h, input.w];
            (dims, hwc_to_chw(mean, input), hwc_to_chw(std, input))
        };
        let mean = self.constant("normalize.mean".into(), &dims, mean);
        let std = self.constant("normalize.std".into(), &dims, std);
        self.node("Sub", "normalize.centered".into(), vec![mean], vec![]);
        self.node("Div", "normalize".into(), vec![std], vec![]);
    }

    /// `Conv` for layer `i`, with its kernel permuted to ONNX's layout and its padding explicit.
    fn conv(&mut self, i: usize, out: String, config: &Conv2dConfig) {
        let Conv2dConfig {
            input: shape,
            filters,
            kernel,
            stride,
            ..
        } = *config;
        // Ours (kh, kw, c_in, c_out) → ONNX (c_out, c_in, kh, kw).
        let w = self.tensor(i, "weight");
        let c_in = shape.c;
        let mut onnx_w = vec![0.0; w.len()];
        for ky in 0..kernel {
            for kx in 0..kernel {
                for ci in 0..c_in {
                    for co in 0..filters {
                        onnx_w[((co * c_in + ci) * kernel + ky) * kernel + kx] =
                            w[((ky * kernel + kx) * c_in + ci) * filters + co];
                    }
                }
            }
        }
        let w = self.constant(
            format!("{i}.weight"),
            &[filters, c_in, kernel, kernel],
            onnx_w,
        );
        let b = self.constant(
            format!("{i}.bias"),
            &[filters],
            self.tensor(i, "bias").to_vec(),
        );
        // The padding as explicit pads, the odd one after (as Keras and TF do); the pixels past
        // the last whole window are never read.
        let g = config.geometry().expect("the model was built");
        let total = |out: usize, size: usize| ((out - 1) * stride + kernel).saturating_sub(size);
        let (top, left) = (g.pad_top, g.pad_left);
        let bottom = total(g.out_h, shape.h).saturating_sub(top);
        let right = total(g.out_w, shape.w).saturating_sub(left);
        self.node(
            "Conv",
            out,
            vec![w, b],
            vec![
                ints("kernel_shape", &[kernel, kernel]),
                ints("strides", &[stride, stride]),
                ints("pads", &[top, left, bottom, right]),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        );
    }

    /// `BatchNormalization` in inference form for layer `i`: its running statistics.
    fn batch_norm(&mut self, i: usize, out: String, shape: Shape) {
        let c = shape.c;
        let mut inputs = Vec::new();
        for name in ["weight", "bias", "running_mean", "running_var"] {
            let values = self.tensor(i, name).to_vec();
            inputs.push(self.constant(format!("{i}.{name}"), &[c], values));
        }
        let epsilon = BatchNormConfig::keras(shape).epsilon;
        self.node(
            "BatchNormalization",
            out,
            inputs,
            vec![float("epsilon", epsilon)],
        );
    }

    /// `MaxPool` without padding.
    fn max_pool(&mut self, out: String, pool: usize, stride: usize) {
        self.node(
            "MaxPool",
            out,
            vec![],
            vec![
                ints("kernel_shape", &[pool, pool]),
                ints("strides", &[stride, stride]),
                ints("pads", &[0, 0, 0, 0]),
                int("ceil_mode", 0),
            ],
        );
    }

    /// `GlobalAveragePool`, then a flatten to `[N, C]` as ours outputs.
    fn global_avg_pool(&mut self, out: String) {
        self.node("GlobalAveragePool", format!("{out}.pool"), vec![], vec![]);
        self.node("Flatten", out, vec![], vec![int("axis", 1)]);
        self.flat = true;
    }

    /// `Gemm` for layer `i`, whose input is `shape` before any flatten.
    fn dense(&mut self, i: usize, out: String, shape: Shape, units: usize) {
        // Our engine reads a 1×1 image as flat without a Flatten layer.
        self.flatten(format!("{out}.flatten"));
        let w = self.tensor(i, "weight");
        // Our flatten is (h, w, c) order, ONNX's (c, h, w): reorder the kernel's rows so each
        // input feature meets the weights it was trained with.
        let w = if shape.h * shape.w > 1 {
            let mut rows = vec![0.0; w.len()];
            for (j, row) in w.chunks_exact(units).enumerate() {
                let (pixel, ch) = (j / shape.c, j % shape.c);
                let to = ch * shape.h * shape.w + pixel;
                rows[to * units..(to + 1) * units].copy_from_slice(row);
            }
            rows
        } else {
            w.to_vec()
        };
        let w = self.constant(format!("{i}.weight"), &[shape.len(), units], w);
        let b = self.constant(
            format!("{i}.bias"),
            &[units],
            self.tensor(i, "bias").to_vec(),
        );
        self.node("Gemm", out, vec![w, b], vec![]);
    }

    /// The `logits` and `probabilities` outputs, and the graph around the nodes.
    fn outputs(mut self, config: &ModelConfig) -> GraphProto {
        let logits = std::mem::take(&mut self.current);
        self.nodes.push(NodeProto {
            input: vec![logits.clone()],
            output: vec!["logits".into()],
            name: "logits".into(),
            op_type: "Identity".into(),
            attribute: vec![],
        });
        self.current = "logits".into();
        self.node(
            "Softmax",
            "probabilities".into(),
            vec![],
            vec![int("axis", 1)],
        );
        let (input, classes) = (config.input, config.classes);
        GraphProto {
            node: self.nodes,
            name: format!("mnistlab {}", config.name),
            initializer: self.initializers,
            doc_string: USAGE.into(),
            input: vec![tensor_value(
                "image",
                vec![batch_dim(), dim(input.c), dim(input.h), dim(input.w)],
            )],
            output: vec![
                tensor_value("probabilities", vec![batch_dim(), dim(classes)]),
                tensor_value("logits", vec![batch_dim(), dim(classes)]),
            ],
        }
    }
}
