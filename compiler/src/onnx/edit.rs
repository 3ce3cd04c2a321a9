//! ONNX → ONNX rewriting: a model opened for the compression tools (`zantc quantize`,
//! pruning), which read its nodes and initializers, replace them, and write the model back
//! as a file ONNX Runtime loads.
//!
//! The protobuf types stay private to `onnx`: a node is handed out as a [`NodeDef`] (names,
//! inputs, outputs, and typed attribute accessors) and a weight as an IR [`Tensor`]. What
//! the rewriting does not touch is written back as it was read, except the fields
//! `proto.rs` does not model (prost drops unknown fields) and intermediate `value_info`
//! shapes, which a rewrite that changes shapes must clear ([`ModelEdit::clear_value_info`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use prost::Message;

use super::proto::{self, attribute_type, AttributeProto, NodeProto};
use super::{decode_model, ImportError};
use crate::ir::{DType, Data, Tensor};

/// One node of an ONNX graph, detached from protobuf.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeDef {
    pub name: String,
    pub op_type: String,
    /// The op's domain, `""` for `ai.onnx`.
    pub domain: String,
    /// Input names; `""` marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    attrs: Vec<AttributeProto>,
}

impl NodeDef {
    /// A node of the `ai.onnx` domain without attributes.
    pub fn new(
        op_type: &str,
        name: impl Into<String>,
        inputs: Vec<String>,
        outputs: Vec<String>,
    ) -> Self {
        Self {
            name: name.into(),
            op_type: op_type.to_string(),
            domain: String::new(),
            inputs,
            outputs,
            attrs: Vec::new(),
        }
    }

    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The names of the node's attributes, in file order.
    pub fn attr_names(&self) -> Vec<&str> {
        self.attrs.iter().map(|a| a.name.as_str()).collect()
    }

    /// An `int` attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.attr(name)
            .filter(|a| a.r#type == attribute_type::INT)
            .map(|a| a.i)
    }

    /// An `ints` attribute.
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name)
            .filter(|a| a.r#type == attribute_type::INTS)
            .map(|a| a.ints.as_slice())
    }

    /// A `float` attribute.
    pub fn float(&self, name: &str) -> Option<f32> {
        self.attr(name)
            .filter(|a| a.r#type == attribute_type::FLOAT)
            .map(|a| a.f)
    }

    /// A `string` attribute, when it is UTF-8.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.attr(name)
            .filter(|a| a.r#type == attribute_type::STRING)
            .and_then(|a| std::str::from_utf8(&a.s).ok())
    }

    /// A `tensor` attribute (a `Constant`'s `value`), decoded.
    pub fn tensor(&self, name: &str) -> Option<Result<Tensor, String>> {
        self.attr(name)
            .filter(|a| a.r#type == attribute_type::TENSOR)
            .and_then(|a| a.t.as_ref())
            .map(|t| super::tensor::decode(t, None))
    }

    fn set(&mut self, attr: AttributeProto) {
        match self.attrs.iter_mut().find(|a| a.name == attr.name) {
            Some(slot) => *slot = attr,
            None => self.attrs.push(attr),
        }
    }

    /// Sets (or replaces) an `int` attribute.
    pub fn set_int(&mut self, name: &str, value: i64) {
        self.set(AttributeProto {
            name: name.to_string(),
            r#type: attribute_type::INT,
            i: value,
            ..Default::default()
        });
    }

    /// Sets (or replaces) an `ints` attribute.
    pub fn set_ints(&mut self, name: &str, value: &[i64]) {
        self.set(AttributeProto {
            name: name.to_string(),
            r#type: attribute_type::INTS,
            ints: value.to_vec(),
            ..Default::default()
        });
    }

    /// Sets (or replaces) a `float` attribute.
    pub fn set_float(&mut self, name: &str, value: f32) {
        self.set(AttributeProto {
            name: name.to_string(),
            r#type: attribute_type::FLOAT,
            f: value,
            ..Default::default()
        });
    }

    /// Sets (or replaces) a `string` attribute.
    pub fn set_string(&mut self, name: &str, value: &str) {
        self.set(AttributeProto {
            name: name.to_string(),
            r#type: attribute_type::STRING,
            s: value.as_bytes().to_vec(),
            ..Default::default()
        });
    }

    /// Removes an attribute, if present.
    pub fn remove_attr(&mut self, name: &str) {
        self.attrs.retain(|a| a.name != name);
    }

    fn from_proto(n: &NodeProto) -> Self {
        Self {
            name: n.name.clone(),
            op_type: n.op_type.clone(),
            domain: n.domain.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs: n.attribute.clone(),
        }
    }

    fn into_proto(self) -> NodeProto {
        NodeProto {
            input: self.inputs,
            output: self.outputs,
            name: self.name,
            op_type: self.op_type,
            domain: self.domain,
            attribute: self.attrs,
            ..Default::default()
        }
    }
}

/// A graph input or output: its name, element type and dims (`None` for a symbolic dim).
#[derive(Clone, Debug, PartialEq)]
pub struct PortDef {
    pub name: String,
    pub dtype: Option<DType>,
    pub dims: Vec<Option<i64>>,
}

/// An ONNX model opened for rewriting.
#[derive(Clone, Debug)]
pub struct ModelEdit {
    model: proto::ModelProto,
    /// The model's folder, where external data may come from.
    base_dir: Option<PathBuf>,
}

impl ModelEdit {
    /// Opens a model file, or the `model.onnx` of a folder.
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let file = if path.is_dir() {
            path.join("model.onnx")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|source| ImportError::Read {
            path: file.clone(),
            source,
        })?;
        let mut edit = Self::from_bytes(&bytes, &file)?;
        edit.base_dir = Some(super::model_dir(&file).to_path_buf());
        Ok(edit)
    }

    /// Decodes model bytes; `path` names them in errors. External data is refused.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ImportError> {
        Ok(Self {
            model: decode_model(bytes, path)?,
            base_dir: None,
        })
    }

    fn graph(&self) -> &proto::GraphProto {
        self.model
            .graph
            .as_ref()
            .expect("decode_model checks the graph")
    }

    fn graph_mut(&mut self) -> &mut proto::GraphProto {
        self.model
            .graph
            .as_mut()
            .expect("decode_model checks the graph")
    }

    /// The nodes of the main graph, in file order.
    pub fn nodes(&self) -> Vec<NodeDef> {
        self.graph().node.iter().map(NodeDef::from_proto).collect()
    }

    /// Replaces the main graph's nodes.
    pub fn set_nodes(&mut self, nodes: Vec<NodeDef>) {
        self.graph_mut().node = nodes.into_iter().map(NodeDef::into_proto).collect();
    }

    /// The names of the initializers, in file order.
    pub fn initializer_names(&self) -> Vec<String> {
        self.graph()
            .initializer
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// An initializer, decoded; `Ok(None)` when no initializer has that name.
    pub fn initializer(&self, name: &str) -> Result<Option<Tensor>, ImportError> {
        let Some(t) = self.graph().initializer.iter().find(|t| t.name == name) else {
            return Ok(None);
        };
        super::tensor::decode(t, self.base_dir.as_deref())
            .map(Some)
            .map_err(|message| ImportError::Initializer {
                name: name.to_string(),
                message,
            })
    }

    /// Sets an initializer, replacing the one of that name or adding it. The data is
    /// written inline (`raw_data`), so a rewritten model never points at external files.
    pub fn set_initializer(&mut self, name: &str, tensor: &Tensor) {
        let proto = super::tensor::encode(tensor, name);
        let graph = self.graph_mut();
        match graph.initializer.iter_mut().find(|t| t.name == name) {
            Some(slot) => *slot = proto,
            None => graph.initializer.push(proto),
        }
    }

    /// Removes an initializer (and a graph input of that name, as old exporters list
    /// initializers among the inputs).
    pub fn remove_initializer(&mut self, name: &str) {
        let graph = self.graph_mut();
        graph.initializer.retain(|t| t.name != name);
        graph.input.retain(|i| i.name != name);
    }

    /// Removes initializers no node reads and that are not graph outputs.
    pub fn remove_unused_initializers(&mut self) {
        let graph = self.graph();
        let mut used: HashSet<String> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .collect();
        used.extend(graph.output.iter().map(|o| o.name.clone()));
        let unused: Vec<String> = graph
            .initializer
            .iter()
            .filter(|t| !used.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        for name in unused {
            self.remove_initializer(&name);
        }
    }

    /// Turns every `Constant` node whose `value` is a tensor into an initializer of the
    /// same name, so the rewriting finds every weight among the initializers.
    pub fn constants_to_initializers(&mut self) -> Result<(), ImportError> {
        let mut kept = Vec::new();
        for node in self.nodes() {
            let value = (node.op_type == "Constant" && node.domain.is_empty())
                .then(|| node.tensor("value"))
                .flatten();
            match (value, node.outputs.first()) {
                (Some(tensor), Some(out)) => {
                    let tensor = tensor.map_err(|message| ImportError::Initializer {
                        name: out.clone(),
                        message,
                    })?;
                    self.set_initializer(out, &tensor);
                }
                _ => kept.push(node),
            }
        }
        self.set_nodes(kept);
        Ok(())
    }

    /// Folds every `DequantizeLinear` whose inputs are all initializers (weights that an
    /// exporter stored as 8-bit integers) into a float initializer named after its output,
    /// so a compression pass sees float weights. Blocked scales (`block_size`) are left
    /// alone. Returns how many nodes were folded.
    pub fn fold_weight_dequantize(&mut self) -> Result<usize, ImportError> {
        let mut kept = Vec::new();
        let mut folded = 0;
        for node in self.nodes() {
            match self.dequantized(&node)? {
                Some(tensor) => {
                    self.set_initializer(&node.outputs[0], &tensor);
                    folded += 1;
                }
                None => kept.push(node),
            }
        }
        self.set_nodes(kept);
        self.remove_unused_initializers();
        Ok(folded)
    }

    /// The float value of a `DequantizeLinear` of initializers, or `None` when `node` is
    /// not one (or uses blocked scales).
    fn dequantized(&self, node: &NodeDef) -> Result<Option<Tensor>, ImportError> {
        if node.op_type != "DequantizeLinear"
            || !node.domain.is_empty()
            || node.outputs.len() != 1
            || node.int("block_size").unwrap_or(0) != 0
        {
            return Ok(None);
        }
        let mut operands = Vec::new();
        for name in node.inputs.iter().filter(|n| !n.is_empty()) {
            match self.initializer(name)? {
                Some(t) => operands.push(t),
                None => return Ok(None),
            }
        }
        let [x, scale, rest @ ..] = operands.as_slice() else {
            return Ok(None);
        };
        let bad = |message: String| ImportError::Initializer {
            name: node.outputs[0].clone(),
            message,
        };
        let xs = x.data.to_f64_vec();
        let scales = scale.data.to_f64_vec();
        let zps = match rest.first() {
            Some(zp) => zp.data.to_f64_vec(),
            None => vec![0.0; scales.len()],
        };
        if zps.len() != scales.len() || scales.is_empty() {
            return Err(bad(format!(
                "DequantizeLinear `{}`: {} scales but {} zero points",
                node.name,
                scales.len(),
                zps.len()
            )));
        }
        // Per-tensor scales apply to every element; per-axis ones to the slices of `axis`.
        let inner = if scales.len() == 1 {
            xs.len().max(1)
        } else {
            let rank = x.shape.len() as i64;
            let axis = node.int("axis").unwrap_or(1);
            let axis = if axis < 0 { axis + rank } else { axis };
            let Some(&len) = usize::try_from(axis).ok().and_then(|a| x.shape.get(a)) else {
                return Err(bad(format!(
                    "axis {axis} is out of range for {:?}",
                    x.shape
                )));
            };
            if len != scales.len() {
                return Err(bad(format!(
                    "{} scales do not fit axis {axis} of {:?}",
                    scales.len(),
                    x.shape
                )));
            }
            x.shape[axis as usize + 1..].iter().product::<usize>()
        };
        let values: Vec<f32> = xs
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = (i / inner) % scales.len();
                ((q - zps[c]) * scales[c]) as f32
            })
            .collect();
        Ok(Some(Tensor::new(x.shape.clone(), Data::F32(values))))
    }

    /// The graph's fed inputs (those that are not initializers), in order.
    pub fn inputs(&self) -> Vec<PortDef> {
        let graph = self.graph();
        let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        graph
            .input
            .iter()
            .filter(|i| !inits.contains(i.name.as_str()))
            .map(port)
            .collect()
    }

    /// The graph's outputs, in order.
    pub fn outputs(&self) -> Vec<PortDef> {
        self.graph().output.iter().map(port).collect()
    }

    /// The opset the model imports for `domain` (`""` is `ai.onnx`).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let norm = |d: &str| super::normalize_domain(d).to_string();
        self.model
            .opset_import
            .iter()
            .find(|o| norm(&o.domain) == norm(domain))
            .map(|o| o.version)
    }

    /// Sets the opset imported for `domain`, adding the import when it is missing.
    pub fn set_opset(&mut self, domain: &str, version: i64) {
        let norm = |d: &str| super::normalize_domain(d).to_string();
        match self
            .model
            .opset_import
            .iter_mut()
            .find(|o| norm(&o.domain) == norm(domain))
        {
            Some(o) => o.version = version,
            None => self.model.opset_import.push(proto::OperatorSetIdProto {
                domain: domain.to_string(),
                version,
            }),
        }
    }

    /// Drops the shapes recorded for intermediate values, which a rewrite that changes
    /// shapes or types would make stale; ONNX Runtime and zant infer them again.
    pub fn clear_value_info(&mut self) {
        self.graph_mut().value_info.clear();
    }

    /// Whether an intermediate value's recorded shape has a symbolic dim (`batch_size`).
    /// tract takes such a shape as a fact to unify with the one it infers from pinned
    /// inputs, and fails on it.
    pub fn has_symbolic_value_info(&self) -> bool {
        self.graph()
            .value_info
            .iter()
            .any(|v| port(v).dims.iter().any(Option::is_none))
    }

    /// Sets the `producer_name` field, so a rewritten file says which tool wrote it.
    pub fn set_producer(&mut self, name: &str, version: &str) {
        self.model.producer_name = name.to_string();
        self.model.producer_version = version.to_string();
    }

    /// Encodes the model.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }

    /// Writes every initializer that keeps its data in an external file back inline, so
    /// the model's bytes stand alone: the importer refuses external data in bytes, and a
    /// pruned model is handed to it as bytes.
    pub fn inline_external_data(&mut self) -> Result<(), ImportError> {
        let external: Vec<String> = self
            .graph()
            .initializer
            .iter()
            .filter(|t| t.data_location == proto::DATA_LOCATION_EXTERNAL)
            .map(|t| t.name.clone())
            .collect();
        for name in external {
            if let Some(tensor) = self.initializer(&name)? {
                self.set_initializer(&name, &tensor);
            }
        }
        Ok(())
    }

    /// Gives each graph input that names an initializer (old exporters list every
    /// initializer among the inputs) the initializer's element type and shape, which a
    /// rewrite that shrinks a weight would otherwise leave stale.
    pub fn sync_initializer_inputs(&mut self) {
        use proto::tensor_shape_proto::{dimension, Dimension};
        let graph = self.graph_mut();
        for input in &mut graph.input {
            let Some(init) = graph.initializer.iter().find(|t| t.name == input.name) else {
                continue;
            };
            let dim = init
                .dims
                .iter()
                .map(|&d| Dimension {
                    value: Some(dimension::Value::DimValue(d)),
                    ..Default::default()
                })
                .collect();
            input.r#type = Some(proto::TypeProto {
                value: Some(proto::type_proto::Value::TensorType(
                    proto::type_proto::Tensor {
                        elem_type: init.data_type,
                        shape: Some(proto::TensorShapeProto { dim }),
                    },
                )),
                ..Default::default()
            });
        }
    }
}

fn port(v: &proto::ValueInfoProto) -> PortDef {
    use proto::tensor_shape_proto::dimension;
    let tensor = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(t)) => Some(t),
        _ => None,
    };
    PortDef {
        name: v.name.clone(),
        dtype: tensor.and_then(|t| DType::from_onnx(t.elem_type)),
        dims: tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) if v > 0 => Some(v),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist() -> Option<ModelEdit> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/mnist-8");
        path.exists()
            .then(|| ModelEdit::open(&path).expect("mnist-8 opens"))
    }

    #[test]
    fn round_trip_keeps_the_graph() {
        let Some(edit) = mnist() else {
            eprintln!("NOT RUN: ../shared/models/mnist-8 is missing");
            return;
        };
        let again = ModelEdit::from_bytes(&edit.to_bytes(), Path::new("mem")).unwrap();
        assert_eq!(again.nodes(), edit.nodes());
        assert_eq!(again.initializer_names(), edit.initializer_names());
        assert_eq!(again.inputs(), edit.inputs());
        assert_eq!(
            again.inputs()[0].dims,
            vec![Some(1), Some(1), Some(28), Some(28)]
        );
        assert_eq!(again.opset(""), Some(8));
    }

    #[test]
    fn rewrites_initializers_nodes_and_attributes() {
        let Some(mut edit) = mnist() else {
            eprintln!("NOT RUN: ../shared/models/mnist-8 is missing");
            return;
        };
        let conv = edit
            .nodes()
            .into_iter()
            .find(|n| n.op_type == "Conv")
            .unwrap();
        assert_eq!(conv.ints("kernel_shape"), Some(&[5, 5][..]));
        let w = edit.initializer(&conv.inputs[1]).unwrap().unwrap();
        assert_eq!(w.shape, vec![8, 1, 5, 5]);
        let zeros = Tensor::new(w.shape.clone(), Data::F32(vec![0.0; 200]));
        edit.set_initializer(&conv.inputs[1], &zeros);
        let mut nodes = edit.nodes();
        nodes[0].set_int("group", 1);
        nodes[0].set_string("auto_pad", "NOTSET");
        edit.set_nodes(nodes);
        edit.set_opset("com.microsoft", 1);
        let again = ModelEdit::from_bytes(&edit.to_bytes(), Path::new("mem")).unwrap();
        assert_eq!(again.initializer(&conv.inputs[1]).unwrap().unwrap(), zeros);
        assert_eq!(again.nodes()[0].int("group"), Some(1));
        assert_eq!(again.nodes()[0].string("auto_pad"), Some("NOTSET"));
        assert_eq!(again.opset("com.microsoft"), Some(1));
        assert!(again.initializer("no such").unwrap().is_none());
    }

    #[test]
    fn declared_initializer_inputs_follow_their_initializers() {
        let Some(mut edit) = mnist() else {
            eprintln!("NOT RUN: ../shared/models/mnist-8 is missing");
            return;
        };
        let declared = |edit: &ModelEdit| {
            let input = edit.graph().input.iter().find(|i| i.name == "Parameter5");
            port(input.expect("mnist-8 lists its initializers among the inputs"))
        };
        assert_eq!(declared(&edit).dims, [Some(8), Some(1), Some(5), Some(5)]);
        let small = Tensor::new(vec![4, 1, 5, 5], Data::F32(vec![0.0; 100]));
        edit.set_initializer("Parameter5", &small);
        edit.inline_external_data().unwrap();
        edit.sync_initializer_inputs();
        assert_eq!(declared(&edit).dims, [Some(4), Some(1), Some(5), Some(5)]);
        assert_eq!(declared(&edit).dtype, Some(DType::F32));
        // Fed inputs are left as they are.
        assert_eq!(
            edit.inputs()[0].dims,
            [Some(1), Some(1), Some(28), Some(28)]
        );
    }

    #[test]
    fn folds_dequantized_weights_per_axis() {
        let mut edit = ModelEdit {
            model: proto::ModelProto {
                graph: Some(proto::GraphProto::default()),
                ..Default::default()
            },
            base_dir: None,
        };
        edit.set_initializer("q", &Tensor::new(vec![2, 2], Data::I8(vec![1, -2, 3, 4])));
        edit.set_initializer("s", &Tensor::new(vec![2], Data::F32(vec![0.5, 2.0])));
        edit.set_initializer("z", &Tensor::new(vec![2], Data::I8(vec![1, 0])));
        let mut dq = NodeDef::new(
            "DequantizeLinear",
            "dq",
            vec!["q".into(), "s".into(), "z".into()],
            vec!["w".into()],
        );
        dq.set_int("axis", 0);
        edit.set_nodes(vec![
            dq,
            NodeDef::new("Relu", "r", vec!["w".into()], vec!["y".into()]),
        ]);
        assert_eq!(edit.fold_weight_dequantize().unwrap(), 1);
        assert_eq!(
            edit.initializer("w").unwrap(),
            Some(Tensor::new(
                vec![2, 2],
                Data::F32(vec![0.0, -1.5, 6.0, 8.0])
            ))
        );
        assert_eq!(edit.initializer_names(), vec!["w".to_string()]);
    }

    #[test]
    fn constants_become_initializers() {
        let c = Tensor::new(vec![2], Data::F32(vec![1.0, 2.0]));
        let mut edit = ModelEdit {
            model: proto::ModelProto {
                graph: Some(proto::GraphProto::default()),
                ..Default::default()
            },
            base_dir: None,
        };
        let mut node = NodeDef::new("Constant", "c", vec![], vec!["k".into()]);
        node.attrs.push(AttributeProto {
            name: "value".into(),
            r#type: attribute_type::TENSOR,
            t: Some(super::super::tensor::encode(&c, "k")),
            ..Default::default()
        });
        edit.set_nodes(vec![
            node,
            NodeDef::new("Relu", "r", vec!["k".into()], vec!["y".into()]),
        ]);
        edit.constants_to_initializers().unwrap();
        assert_eq!(edit.nodes().len(), 1);
        assert_eq!(edit.initializer("k").unwrap(), Some(c));
        edit.set_nodes(vec![]);
        edit.remove_unused_initializers();
        assert!(edit.initializer_names().is_empty());
    }
}
