//! A small builder over the `onnx-protobuf` messages, so each model file reads like its layer list.
//!
//! Every node's output value is named after the node, except where the caller names a graph
//! output. Weights are named PyTorch style (`conv1.weight`), so the compiler's namer meets dots.

use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};

use crate::rng::Rng;

/// The IR version written into every model: that of ONNX 1.10 to 1.12, which every current
/// reader accepts and which postdates opset 13 (ONNX 1.8).
const IR_VERSION: i64 = 8;
/// The version of the default (`ai.onnx`) operator set a model imports unless it asks for
/// another ([`GraphBuilder::opset`]).
const OPSET_VERSION: i64 = 13;
const PRODUCER_NAME: &str = "zant-models";

/// Biases and batch-norm shifts: small, so they nudge rather than dominate.
pub(crate) const SMALL: Init = Init::Uniform {
    low: -0.1,
    high: 0.1,
};

/// How a weight tensor's values are drawn.
#[derive(Clone, Copy)]
pub(crate) enum Init {
    /// He uniform, variance `2 / fan_in`: keeps activations near unit scale through a ReLU.
    He { fan_in: usize },
    /// LeCun uniform, variance `1 / fan_in`: keeps unit scale where no ReLU halves the signal,
    /// as before a Tanh or at the logits.
    LeCun { fan_in: usize },
    /// Uniform in `[low, high)`.
    Uniform { low: f32, high: f32 },
}

/// The shape and attributes of one `Conv` node.
pub(crate) struct ConvSpec {
    pub(crate) in_channels: i64,
    pub(crate) out_channels: i64,
    pub(crate) kernel: [i64; 2],
    pub(crate) strides: [i64; 2],
    /// ONNX order: `[top, left, bottom, right]`.
    pub(crate) pads: [i64; 4],
    pub(crate) group: i64,
    pub(crate) bias: bool,
}

/// The shape and attributes of a one-dimensional `Conv` node over `[N, C, L]`, as
/// `torch.nn.Conv1d` exports it.
pub(crate) struct Conv1dSpec {
    pub(crate) in_channels: i64,
    pub(crate) out_channels: i64,
    pub(crate) kernel: i64,
    pub(crate) dilation: i64,
    /// ONNX order: `[begin, end]`.
    pub(crate) pads: [i64; 2],
}

/// A graph under construction, with the seed its weights are drawn from and the element
/// type of its float tensors.
pub(crate) struct GraphBuilder {
    seed: u64,
    graph: GraphProto,
    elem_type: DataType,
    opset: i64,
}

/// An attribute of type `INT`.
pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    attribute(name, AttributeType::INT, |attr| attr.i = value)
}

/// An attribute of type `INTS`.
pub(crate) fn ints(name: &str, values: &[i64]) -> AttributeProto {
    attribute(name, AttributeType::INTS, |attr| {
        attr.ints = values.to_vec()
    })
}

/// An attribute of type `GRAPH`: a subgraph, such as a branch of an `If`.
pub(crate) fn graph(name: &str, value: GraphProto) -> AttributeProto {
    attribute(name, AttributeType::GRAPH, |attr| {
        attr.g = MessageField::some(value)
    })
}

/// An attribute of type `STRING`.
pub(crate) fn string(name: &str, value: &str) -> AttributeProto {
    attribute(name, AttributeType::STRING, |attr| {
        attr.s = value.as_bytes().to_vec()
    })
}

/// An attribute of type `FLOAT`.
pub(crate) fn float(name: &str, value: f32) -> AttributeProto {
    attribute(name, AttributeType::FLOAT, |attr| attr.f = value)
}

impl Init {
    fn sample(self, rng: &mut Rng) -> f32 {
        // Uniform on [-l, l) has variance l² / 3, so l = sqrt(3 · variance).
        let limit = |variance: f64| (3.0 * variance).sqrt() as f32;
        match self {
            Init::He { fan_in } => {
                let limit = limit(2.0 / fan_in as f64);
                rng.uniform(-limit, limit)
            }
            Init::LeCun { fan_in } => {
                let limit = limit(1.0 / fan_in as f64);
                rng.uniform(-limit, limit)
            }
            Init::Uniform { low, high } => rng.uniform(low, high),
        }
    }
}

impl GraphBuilder {
    pub(crate) fn new(name: &str, seed: u64) -> GraphBuilder {
        let graph = GraphProto {
            name: name.to_owned(),
            ..GraphProto::default()
        };
        GraphBuilder {
            seed,
            graph,
            elem_type: DataType::FLOAT,
            opset: OPSET_VERSION,
        }
    }

    /// Imports version `opset` of the default operator set instead of 13, for a model that
    /// needs a newer op (LayerNormalization is opset 17).
    pub(crate) fn opset(mut self, opset: i64) -> GraphBuilder {
        self.opset = opset;
        self
    }

    /// Makes every float tensor (graph inputs and outputs, weights, parameters, constants)
    /// float16 instead of `f32`: values are drawn in `f32` and stored as the nearest float16.
    pub(crate) fn half(mut self) -> GraphBuilder {
        self.elem_type = DataType::FLOAT16;
        self
    }

    /// Declares a graph input of the float type and static shape `dims`, and returns its
    /// name.
    pub(crate) fn input(&mut self, name: &str, dims: &[i64]) -> String {
        self.graph
            .input
            .push(value_info(name, dims, self.elem_type));
        name.to_owned()
    }

    /// Declares a scalar graph input of type `bool` (a mode flag), and returns its name.
    pub(crate) fn bool_input(&mut self, name: &str) -> String {
        self.graph.input.push(value_info(name, &[], DataType::BOOL));
        name.to_owned()
    }

    /// Starts a subgraph (an `If` branch) whose weights are drawn from this graph's seed.
    pub(crate) fn subgraph(&self, name: &str) -> GraphBuilder {
        GraphBuilder::new(name, self.seed)
    }

    /// The subgraph built so far, to be an attribute of a node ([`graph`]).
    pub(crate) fn into_graph(self) -> GraphProto {
        self.graph
    }

    /// Declares the value `name` a graph output of the float type and static shape `dims`.
    pub(crate) fn output(&mut self, name: &str, dims: &[i64]) {
        self.graph
            .output
            .push(value_info(name, dims, self.elem_type));
    }

    /// Declares an `int64` graph output whose first dim depends on the data, named by
    /// `dim_param` as exporters name it (`num_selected` for NonMaxSuppression's rows).
    pub(crate) fn int64_output(&mut self, name: &str, dim_param: &str, rest: &[i64]) {
        let mut info = value_info(name, rest, DataType::INT64);
        if let Some(type_proto::Value::TensorType(t)) =
            info.type_.as_mut().and_then(|t| t.value.as_mut())
        {
            if let Some(shape) = t.shape.as_mut() {
                shape.dim.insert(
                    0,
                    tensor_shape_proto::Dimension {
                        value: Some(tensor_shape_proto::dimension::Value::DimParam(
                            dim_param.to_owned(),
                        )),
                        ..tensor_shape_proto::Dimension::default()
                    },
                );
            }
        }
        self.graph.output.push(info);
    }

    /// Adds a random initializer stored as little-endian `raw_data`, as exporters store
    /// weights, and returns its name.
    pub(crate) fn weight(&mut self, name: &str, dims: &[i64], init: Init) -> String {
        let values = self.draw(name, dims, init);
        let raw_data = match self.elem_type {
            DataType::FLOAT16 => values
                .iter()
                .flat_map(|&value| f16_bits(value).to_le_bytes())
                .collect(),
            _ => values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect(),
        };
        self.initializer(TensorProto {
            name: name.to_owned(),
            dims: dims.to_vec(),
            data_type: self.elem_type as i32,
            raw_data,
            ..TensorProto::default()
        })
    }

    /// Adds a random initializer stored in `float_data` (`int32_data` for float16, which ONNX
    /// keeps there as bits), so the models exercise both ways a decoder must read floats, and
    /// returns its name.
    pub(crate) fn param(&mut self, name: &str, dims: &[i64], init: Init) -> String {
        let values = self.draw(name, dims, init);
        self.constant(name, dims, values)
    }

    /// Adds an initializer of the float type with the given values, stored in `float_data`
    /// (`int32_data` bits for float16), and returns its name.
    pub(crate) fn constant(&mut self, name: &str, dims: &[i64], values: Vec<f32>) -> String {
        assert_eq!(
            values.len(),
            element_count(dims),
            "constant `{name}` has the wrong number of values for {dims:?}"
        );
        let (float_data, int32_data) = match self.elem_type {
            DataType::FLOAT16 => (
                vec![],
                values.iter().map(|&v| i32::from(f16_bits(v))).collect(),
            ),
            _ => (values, vec![]),
        };
        self.initializer(TensorProto {
            name: name.to_owned(),
            dims: dims.to_vec(),
            data_type: self.elem_type as i32,
            float_data,
            int32_data,
            ..TensorProto::default()
        })
    }

    /// Adds an `int64` initializer, as exporters store the target shape of a `Reshape`, and
    /// returns its name.
    pub(crate) fn shape(&mut self, name: &str, values: &[i64]) -> String {
        self.initializer(TensorProto {
            name: name.to_owned(),
            dims: vec![values.len() as i64],
            data_type: DataType::INT64 as i32,
            int64_data: values.to_vec(),
            ..TensorProto::default()
        })
    }

    /// Adds an `int64` scalar initializer (a length, a count, a rate, as the signal ops
    /// take them), and returns its name.
    pub(crate) fn int_scalar(&mut self, name: &str, value: i64) -> String {
        self.initializer(TensorProto {
            name: name.to_owned(),
            data_type: DataType::INT64 as i32,
            int64_data: vec![value],
            ..TensorProto::default()
        })
    }

    /// Adds a node with several outputs, as named in `outputs` (an empty name leaves an
    /// optional output out), and returns them.
    pub(crate) fn node_outputs(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> Vec<String> {
        self.graph.node.push(NodeProto {
            name: name.to_owned(),
            op_type: op_type.to_owned(),
            input: inputs.iter().map(|&input| input.to_owned()).collect(),
            output: outputs.iter().map(|&output| output.to_owned()).collect(),
            attribute: attributes,
            ..NodeProto::default()
        });
        outputs.iter().map(|&output| output.to_owned()).collect()
    }

    /// Adds a node whose single output is named after the node, and returns that output.
    pub(crate) fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.node_to(op_type, name, inputs, name, attributes)
    }

    /// Adds a node whose single output is `output`, typically a graph output, and returns it.
    pub(crate) fn node_to(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.graph.node.push(NodeProto {
            name: name.to_owned(),
            op_type: op_type.to_owned(),
            input: inputs.iter().map(|&input| input.to_owned()).collect(),
            output: vec![output.to_owned()],
            attribute: attributes,
            ..NodeProto::default()
        });
        output.to_owned()
    }

    /// Adds a `Conv` node named `name` with He-initialized weights `{name}.weight` and, if asked,
    /// a small bias `{name}.bias`.
    pub(crate) fn conv(&mut self, name: &str, input: &str, spec: &ConvSpec) -> String {
        let fan_in = (spec.in_channels / spec.group * spec.kernel[0] * spec.kernel[1]) as usize;
        self.conv_init(name, input, spec, Init::He { fan_in })
    }

    /// Adds a `Conv` node as [`GraphBuilder::conv`] does, its weights drawn by `init`: a
    /// residual branch's last convolution is drawn small, as batch norm's learned scale would
    /// make it, so the sum does not grow block after block.
    pub(crate) fn conv_init(
        &mut self,
        name: &str,
        input: &str,
        spec: &ConvSpec,
        init: Init,
    ) -> String {
        let in_per_group = spec.in_channels / spec.group;
        let [kernel_h, kernel_w] = spec.kernel;
        let weight = self.weight(
            &format!("{name}.weight"),
            &[spec.out_channels, in_per_group, kernel_h, kernel_w],
            init,
        );
        let mut inputs = vec![input.to_owned(), weight];
        if spec.bias {
            inputs.push(self.param(&format!("{name}.bias"), &[spec.out_channels], SMALL));
        }
        let mut attributes = vec![
            ints("kernel_shape", &spec.kernel),
            ints("strides", &spec.strides),
            ints("pads", &spec.pads),
        ];
        if spec.group != 1 {
            attributes.push(int("group", spec.group));
        }
        self.node("Conv", name, &as_strs(&inputs), attributes)
    }

    /// Adds a one-dimensional `Conv` node named `name` with He-initialized weights
    /// `{name}.weight` and a small bias `{name}.bias`; `dilations` is written only when it is
    /// not 1, as PyTorch leaves it out then too.
    pub(crate) fn conv1d(&mut self, name: &str, input: &str, spec: &Conv1dSpec) -> String {
        let fan_in = (spec.in_channels * spec.kernel) as usize;
        self.conv1d_init(name, input, spec, Init::He { fan_in })
    }

    /// Adds a one-dimensional `Conv` node as [`GraphBuilder::conv1d`] does, its weights drawn
    /// by `init`.
    pub(crate) fn conv1d_init(
        &mut self,
        name: &str,
        input: &str,
        spec: &Conv1dSpec,
        init: Init,
    ) -> String {
        let weight = self.weight(
            &format!("{name}.weight"),
            &[spec.out_channels, spec.in_channels, spec.kernel],
            init,
        );
        let bias = self.param(&format!("{name}.bias"), &[spec.out_channels], SMALL);
        let mut attributes = vec![
            ints("kernel_shape", &[spec.kernel]),
            ints("strides", &[1]),
            ints("pads", &spec.pads),
        ];
        if spec.dilation != 1 {
            attributes.push(ints("dilations", &[spec.dilation]));
        }
        self.node("Conv", name, &[input, &weight, &bias], attributes)
    }

    /// Adds a `ConvTranspose` node named `name` whose `kernel`×`kernel` window moves `kernel`
    /// pixels at a time (each input pixel becomes a `kernel`×`kernel` patch, as in a learned
    /// upsampling), with weights `{name}.weight` stored `[in, out, k, k]` drawn by `init` and
    /// a small bias `{name}.bias`. The windows do not overlap, so each output pixel
    /// sums one tap of every input channel: the fan-in is `in_channels`.
    pub(crate) fn conv_transpose(
        &mut self,
        name: &str,
        input: &str,
        in_channels: i64,
        out_channels: i64,
        kernel: i64,
        init: Init,
    ) -> String {
        let weight = self.weight(
            &format!("{name}.weight"),
            &[in_channels, out_channels, kernel, kernel],
            init,
        );
        let bias = self.param(&format!("{name}.bias"), &[out_channels], SMALL);
        let attributes = vec![
            ints("kernel_shape", &[kernel, kernel]),
            ints("strides", &[kernel, kernel]),
        ];
        self.node("ConvTranspose", name, &[input, &weight, &bias], attributes)
    }

    /// Adds an inference-mode `BatchNormalization` node with sane random statistics: scale near
    /// 1, small shift and mean, variance in `[0.5, 1.5)`.
    pub(crate) fn batch_norm(&mut self, name: &str, input: &str, channels: i64) -> String {
        let dims = [channels];
        let scale = self.param(
            &format!("{name}.scale"),
            &dims,
            Init::Uniform {
                low: 0.8,
                high: 1.2,
            },
        );
        let shift = self.param(&format!("{name}.bias"), &dims, SMALL);
        let mean = self.param(&format!("{name}.mean"), &dims, SMALL);
        let variance = self.param(
            &format!("{name}.var"),
            &dims,
            Init::Uniform {
                low: 0.5,
                high: 1.5,
            },
        );
        // `momentum` only matters in training; exporters write it anyway, so a reader must keep it.
        let attributes = vec![float("epsilon", 1e-5), float("momentum", 0.9)];
        let inputs = [input, &scale, &shift, &mean, &variance];
        self.node("BatchNormalization", name, &inputs, attributes)
    }

    /// Adds a `Gemm` node computing `input · weightᵀ + bias`, with weights stored `[out, in]` as
    /// `torch.nn.Linear` exports them (`transB = 1`).
    pub(crate) fn linear(
        &mut self,
        name: &str,
        input: &str,
        in_features: i64,
        out_features: i64,
        init: Init,
        output: &str,
    ) -> String {
        let weight = self.weight(
            &format!("{name}.weight"),
            &[out_features, in_features],
            init,
        );
        let bias = self.param(&format!("{name}.bias"), &[out_features], SMALL);
        let inputs = [input, &weight, &bias];
        self.node_to("Gemm", name, &inputs, output, vec![int("transB", 1)])
    }

    /// Wraps the graph into a model with the fixed header every zant model carries.
    pub(crate) fn finish(self, doc_string: &str) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                // The empty domain is the default `ai.onnx` operator set.
                domain: String::new(),
                version: self.opset,
                ..OperatorSetIdProto::default()
            }],
            producer_name: PRODUCER_NAME.to_owned(),
            doc_string: doc_string.to_owned(),
            graph: MessageField::some(self.graph),
            ..ModelProto::default()
        }
    }

    fn draw(&self, name: &str, dims: &[i64], init: Init) -> Vec<f32> {
        let mut rng = Rng::for_tensor(self.seed, name);
        (0..element_count(dims))
            .map(|_| init.sample(&mut rng))
            .collect()
    }

    fn initializer(&mut self, tensor: TensorProto) -> String {
        let name = tensor.name.clone();
        assert!(
            self.graph
                .initializer
                .iter()
                .all(|other| other.name != name),
            "initializer `{name}` declared twice"
        );
        self.graph.initializer.push(tensor);
        name
    }
}

fn attribute(
    name: &str,
    ty: AttributeType,
    set_value: impl FnOnce(&mut AttributeProto),
) -> AttributeProto {
    let mut attr = AttributeProto {
        name: name.to_owned(),
        type_: EnumOrUnknown::new(ty),
        ..AttributeProto::default()
    };
    set_value(&mut attr);
    attr
}

/// The float16 nearest to `value` (ties to even), as its bits. The weights drawn here are
/// far from float16's largest value, so there is no overflow to handle.
fn f16_bits(value: f32) -> u16 {
    assert!(value.abs() < 65504.0, "{value} does not fit float16");
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if value.abs() < f32::from_bits(0x3880_0000) {
        // Below 2^-14, the smallest normal float16: a multiple of 2^-24.
        let units = (f64::from(value.abs()) * 16_777_216.0).round_ties_even();
        return sign | units as u16;
    }
    // Rebias the exponent (127 → 15) and round away the low 13 of 23 mantissa bits; a carry
    // out of the mantissa steps the exponent, as it should.
    let exponent = ((bits >> 23) & 0xff) + 15 - 127;
    let mantissa = bits & 0x7f_ffff;
    let (kept, dropped) = (mantissa >> 13, mantissa & 0x1fff);
    let round_up = dropped > 0x1000 || (dropped == 0x1000 && kept & 1 == 1);
    sign | ((exponent << 10) + kept + u32::from(round_up)) as u16
}

/// The `ValueInfoProto` of a tensor of `elem_type` and static shape `dims`.
fn value_info(name: &str, dims: &[i64], elem_type: DataType) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&size| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(size)),
            ..tensor_shape_proto::Dimension::default()
        })
        .collect();
    let tensor_type = type_proto::Tensor {
        elem_type: elem_type as i32,
        shape: MessageField::some(TensorShapeProto {
            dim,
            ..TensorShapeProto::default()
        }),
        ..type_proto::Tensor::default()
    };
    ValueInfoProto {
        name: name.to_owned(),
        type_: MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor_type)),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn element_count(dims: &[i64]) -> usize {
    dims.iter().product::<i64>() as usize
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}
