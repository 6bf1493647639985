//! Reading an ONNX file back (through the same message types the exporter writes) into a
//! table of its operators, so a user can check what was exported.

use super::proto::*;
use crate::error::{Error, Result};
use prost::Message;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// What an ONNX file holds, as `summary` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxSummary {
    /// `producer_name producer_version`.
    pub producer: String,
    /// IR version and the default-domain opset.
    pub ir_version: i64,
    /// Opset of the default domain (0 when not declared).
    pub opset: i64,
    /// Graph inputs and outputs: name and shape (`N` for a named dimension).
    pub inputs: Vec<(String, String)>,
    /// Graph outputs.
    pub outputs: Vec<(String, String)>,
    /// One row per node: name, operator, attributes, parameters it reads from initializers.
    pub nodes: Vec<(String, String, String, usize)>,
    /// `metadata_props`, in file order.
    pub metadata: Vec<(String, String)>,
}

fn shape_of(value: &ValueInfoProto) -> String {
    let dims = value
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| &s.dim[..])
        .unwrap_or_default();
    let dims: Vec<String> = dims
        .iter()
        .map(|d| match &d.value {
            Some(DimensionValue::DimValue(v)) => v.to_string(),
            Some(DimensionValue::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

fn attribute_text(a: &AttributeProto) -> String {
    let value = match a.r#type {
        ATTR_INTS => format!("{:?}", a.ints),
        ATTR_INT => a.i.unwrap_or_default().to_string(),
        ATTR_FLOAT => a.f.unwrap_or_default().to_string(),
        _ => "…".into(),
    };
    format!("{}={value}", a.name)
}

/// Reads the ONNX file at `path`.
pub fn describe(path: &Path) -> Result<OnnxSummary> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    describe_bytes(path, &bytes)
}

/// Describes the ONNX model in `bytes`; `path` only names it in errors.
pub fn describe_bytes(path: &Path, bytes: &[u8]) -> Result<OnnxSummary> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| Error::format(path, format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .ok_or_else(|| Error::format(path, "not an ONNX model: it has no graph"))?;
    // Counts as the file states them: a negative dimension, or a count past usize (which a
    // wrapping product would turn into a wrong one), is refused rather than shown.
    let too_many =
        |what: String| Error::format(path, format!("{what}: too many parameters to count"));
    let sizes = graph
        .initializer
        .iter()
        .map(|t| {
            let size = t.dims.iter().try_fold(1usize, |n, &d| {
                usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
            });
            let size = size.ok_or_else(|| {
                Error::format(
                    path,
                    format!("initializer {:?} has dimensions {:?}", t.name, t.dims),
                )
            })?;
            Ok((t.name.as_str(), size))
        })
        .collect::<Result<HashMap<&str, usize>>>()?;
    let nodes: Vec<_> = graph
        .node
        .iter()
        .map(|n| {
            let params = n
                .input
                .iter()
                .filter_map(|i| sizes.get(i.as_str()))
                .try_fold(0usize, |sum, &p| sum.checked_add(p))
                .ok_or_else(|| too_many(format!("node {:?}", n.name)))?;
            let attrs: Vec<String> = n.attribute.iter().map(attribute_text).collect();
            Ok((n.name.clone(), n.op_type.clone(), attrs.join(" "), params))
        })
        .collect::<Result<_>>()?;
    // The summary's total, added up when it is shown, must fit too.
    nodes
        .iter()
        .try_fold(0usize, |sum, n| sum.checked_add(n.3))
        .ok_or_else(|| too_many("the graph".to_string()))?;
    let values = |v: &[ValueInfoProto]| v.iter().map(|v| (v.name.clone(), shape_of(v))).collect();
    Ok(OnnxSummary {
        producer: format!("{} {}", model.producer_name, model.producer_version)
            .trim()
            .to_string(),
        ir_version: model.ir_version,
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(0, |o| o.version),
        inputs: values(&graph.input),
        outputs: values(&graph.output),
        nodes,
        metadata: model
            .metadata_props
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect(),
    })
}

impl fmt::Display for OnnxSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ONNX model by {} (IR {}, opset {})",
            self.producer, self.ir_version, self.opset
        )?;
        for (key, value) in &self.metadata {
            writeln!(f, "  {key}: {value}")?;
        }
        let header = ("Node", "Operator", "Attributes", "Param #");
        // Each text column as wide as its widest cell, header included.
        let width = |cell: fn(&(String, String, String, usize)) -> &str, title: &str| {
            self.nodes
                .iter()
                .map(|n| cell(n).len())
                .fold(title.len(), usize::max)
        };
        let name_w = width(|n| &n.0, header.0);
        let op_w = width(|n| &n.1, header.1);
        let attr_w = width(|n| &n.2, header.2);
        let rule = "─".repeat(name_w + op_w + attr_w + 16);
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{:name_w$}  {:op_w$}  {:attr_w$}  {:>10}",
            header.0, header.1, header.2, header.3
        )?;
        writeln!(f, "{rule}")?;
        for (name, op, attrs, params) in &self.nodes {
            writeln!(
                f,
                "{name:name_w$}  {op:op_w$}  {attrs:attr_w$}  {params:>10}"
            )?;
        }
        writeln!(f, "{rule}")?;
        let total: usize = self.nodes.iter().map(|n| n.3).sum();
        writeln!(f, "Constants: {total}")?;
        for (kind, values) in [("Input", &self.inputs), ("Output", &self.outputs)] {
            for (name, shape) in values {
                writeln!(f, "{kind} {name}: float32 {shape}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose one initializer has `dims`, taken four times by one node.
    fn with_dims(dims: Vec<i64>) -> Vec<u8> {
        let tensor = TensorProto {
            dims,
            name: "w".into(),
            ..Default::default()
        };
        let node = NodeProto {
            input: vec!["w".into(); 4],
            name: "n".into(),
            ..Default::default()
        };
        let graph = GraphProto {
            node: vec![node],
            initializer: vec![tensor],
            ..Default::default()
        };
        ModelProto {
            graph: Some(graph),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn parameter_counts_past_usize_or_negative_are_refused() {
        let path = Path::new("m.onnx");
        let summary = describe_bytes(path, &with_dims(vec![3, 4])).unwrap();
        assert_eq!(summary.nodes[0].3, 48);
        for dims in [vec![1 << 40, 1 << 40], vec![-1, 4], vec![1 << 62]] {
            let e = describe_bytes(path, &with_dims(dims.clone())).unwrap_err();
            assert!(e.to_string().contains("m.onnx"), "{dims:?}: {e}");
        }
    }
}
