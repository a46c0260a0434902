// nnc.Model -> ONNX (opset 17), for inference. The walkthrough:
//   1. keep the nodes the model's outputs depend on (the loss and its labels fall away);
//   2. declare the features inputs they read, with a symbolic batch, and put the input
//      normalization (x - mean) / stddev behind the first one;
//   3. emit each node through its op's entry in opExporters() (dropout and stop_gradient are
//      the identity at inference), the parameters as initializers under their own names;
//   4. declare the outputs.
#include "export/OnnxExporter.h"

#include "runtime/Executor.h"
#include "runtime/FileIO.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/Dataset.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace nnc::exporter {
namespace {

constexpr int64_t kOpset = 17;
using nnrt::trainer::kMeanTensor;
using nnrt::trainer::kStddevTensor;

int32_t onnxType(DType dtype) {
  switch (dtype) {
  case F32: return onnx::TensorProto::FLOAT;
  case F16: return onnx::TensorProto::FLOAT16;
  case BF16: return onnx::TensorProto::BFLOAT16;
  case I32: return onnx::TensorProto::INT32;
  case I64: return onnx::TensorProto::INT64;
  default: return onnx::TensorProto::UNDEFINED;
  }
}

/// Builds the ONNX graph: nodes, initializers and attributes, each tensor under its nnc name.
class Emitter {
public:
  Emitter(onnx::GraphProto &graph, const Node &node) : graph_(graph), node_(node) {}

  const Node &node() const { return node_; }
  std::string input(int i) const { return node_.inputs(i); }
  std::string output() const { return node_.outputs(0); }
  /// A fresh tensor name derived from the node's: "fc1/weight_t".
  std::string temp(const std::string &suffix) const { return node_.name() + "/" + suffix; }

  onnx::NodeProto &add(const std::string &op, const std::vector<std::string> &inputs,
                       const std::string &output) {
    onnx::NodeProto &n = *graph_.add_node();
    n.set_op_type(op);
    n.set_name(output == this->output() ? node_.name() : output);
    for (const std::string &in : inputs)
      n.add_input(in);
    n.add_output(output);
    return n;
  }
  /// An initializer without values yet.
  onnx::TensorProto &initializer(const std::string &name, DType dtype,
                                 const std::vector<int64_t> &shape) {
    onnx::TensorProto &t = *graph_.add_initializer();
    t.set_name(name);
    t.set_data_type(onnxType(dtype));
    for (int64_t d : shape)
      t.add_dims(d);
    return t;
  }
  /// A float constant (a scalar when `shape` is empty), or a 1-D int64 one; returns its name.
  std::string floats(const std::string &name, const std::vector<int64_t> &shape,
                     const std::vector<float> &values) {
    onnx::TensorProto &t = initializer(name, F32, shape);
    for (float v : values)
      t.add_float_data(v);
    return name;
  }
  std::string ints(const std::string &name, const std::vector<int64_t> &values) {
    onnx::TensorProto &t = initializer(name, I64, {int64_t(values.size())});
    for (int64_t v : values)
      t.add_int64_data(v);
    return name;
  }

  // The nnc node's attributes, with the op's default when absent.
  const Attribute *attr(const std::string &key) const {
    auto it = node_.attrs().find(key);
    return it == node_.attrs().end() ? nullptr : &it->second;
  }
  int64_t intAttr(const std::string &key, int64_t otherwise) const {
    const Attribute *a = attr(key);
    return a && a->has_i() ? a->i() : otherwise;
  }
  double floatAttr(const std::string &key, double otherwise) const {
    const Attribute *a = attr(key);
    return a && a->has_f() ? a->f() : otherwise;
  }
  std::string stringAttr(const std::string &key, const std::string &otherwise) const {
    const Attribute *a = attr(key);
    return a && a->has_s() ? a->s() : otherwise;
  }
  bool boolAttr(const std::string &key) const {
    const Attribute *a = attr(key);
    return a && a->has_b() && a->b();
  }
  std::vector<int64_t> intsAttr(const std::string &key, std::vector<int64_t> otherwise) const {
    const Attribute *a = attr(key);
    if (!a || !a->has_ints())
      return otherwise;
    return {a->ints().values().begin(), a->ints().values().end()};
  }

  nnc::Status fail(const std::string &why) const {
    return nnc::Status::error("node '" + node_.name() + "' (" + node_.op() + "): " + why);
  }

  /// Shapes of the model's inputs and parameters (node outputs are not tracked).
  std::map<std::string, std::vector<int64_t>> *knownShapes = nullptr;
  int64_t batch = 0;

private:
  onnx::GraphProto &graph_;
  const Node &node_;
};

void setInts(onnx::NodeProto &n, const std::string &key, const std::vector<int64_t> &values) {
  onnx::AttributeProto &a = *n.add_attribute();
  a.set_name(key);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values)
    a.add_ints(v);
}
void setInt(onnx::NodeProto &n, const std::string &key, int64_t value) {
  onnx::AttributeProto &a = *n.add_attribute();
  a.set_name(key);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
}
void setFloat(onnx::NodeProto &n, const std::string &key, double value) {
  onnx::AttributeProto &a = *n.add_attribute();
  a.set_name(key);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(float(value));
}

using OpExporter = std::function<nnc::Status(Emitter &)>;

/// An op that is one ONNX op of the same inputs.
OpExporter same(const std::string &onnxOp) {
  return [onnxOp](Emitter &e) {
    std::vector<std::string> inputs(e.node().inputs().begin(), e.node().inputs().end());
    e.add(onnxOp, inputs, e.output());
    return nnc::Status();
  };
}

/// x (..., in) @ weight(out, in)^T + bias: MatMul takes any rank (Gemm only 2).
nnc::Status exportLinear(Emitter &e) {
  std::string weightT = e.temp("weight_t");
  setInts(e.add("Transpose", {e.input(1)}, weightT), "perm", {1, 0});
  bool bias = e.node().inputs_size() > 2;
  std::string product = bias ? e.temp("matmul") : e.output();
  e.add("MatMul", {e.input(0), weightT}, product);
  if (bias)
    e.add("Add", {product, e.input(2)}, e.output());
  return nnc::Status();
}

nnc::Status exportConv2d(Emitter &e) {
  std::vector<std::string> inputs(e.node().inputs().begin(), e.node().inputs().end());
  onnx::NodeProto &n = e.add("Conv", inputs, e.output());
  std::vector<int64_t> padding = e.intsAttr("padding", {0, 0});
  setInts(n, "strides", e.intsAttr("stride", {1, 1}));
  setInts(n, "pads", {padding[0], padding[1], padding[0], padding[1]});
  setInts(n, "dilations", e.intsAttr("dilation", {1, 1}));
  setInt(n, "group", e.intAttr("groups", 1));
  return nnc::Status();
}

/// Pools: the stride defaults to the kernel; average pooling counts the padding, as nn's does.
OpExporter pool(const std::string &onnxOp) {
  return [onnxOp](Emitter &e) {
    onnx::NodeProto &n = e.add(onnxOp, {e.input(0)}, e.output());
    std::vector<int64_t> kernel = e.intsAttr("kernel_size", {});
    std::vector<int64_t> padding = e.intsAttr("padding", {0, 0});
    setInts(n, "kernel_shape", kernel);
    setInts(n, "strides", e.intsAttr("stride", kernel));
    setInts(n, "pads", {padding[0], padding[1], padding[0], padding[1]});
    if (onnxOp == "AveragePool")
      setInt(n, "count_include_pad", 1);
    return nnc::Status();
  };
}

OpExporter softmaxLike(const std::string &onnxOp) {
  return [onnxOp](Emitter &e) {
    setInt(e.add(onnxOp, {e.input(0)}, e.output()), "axis", e.intAttr("axis", -1));
    return nnc::Status();
  };
}

/// opset 17 has no Gelu: 0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation
/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
nnc::Status exportGelu(Emitter &e) {
  std::string x = e.input(0), inner;
  if (e.stringAttr("approximate", "none") == "tanh") {
    e.add("Mul", {x, x}, e.temp("x2"));
    e.add("Mul", {e.temp("x2"), x}, e.temp("x3"));
    e.add("Mul", {e.temp("x3"), e.floats(e.temp("c"), {}, {0.044715f})}, e.temp("cx3"));
    e.add("Add", {x, e.temp("cx3")}, e.temp("sum"));
    e.add("Mul", {e.temp("sum"), e.floats(e.temp("k"), {}, {float(std::sqrt(2 / M_PI))})},
          e.temp("scaled"));
    inner = e.add("Tanh", {e.temp("scaled")}, e.temp("tanh")).output(0);
  } else {
    e.add("Mul", {x, e.floats(e.temp("rsqrt2"), {}, {float(1 / std::sqrt(2.0))})}, e.temp("xs"));
    inner = e.add("Erf", {e.temp("xs")}, e.temp("erf")).output(0);
  }
  e.add("Add", {inner, e.floats(e.temp("one"), {}, {1.0f})}, e.temp("one_plus"));
  e.add("Mul", {x, e.temp("one_plus")}, e.temp("x_one_plus"));
  e.add("Mul", {e.temp("x_one_plus"), e.floats(e.temp("half"), {}, {0.5f})}, e.output());
  return nnc::Status();
}

/// Clip with its bounds as inputs (opset 11 on); a bound left out is an empty input name.
nnc::Status exportClamp(Emitter &e) {
  auto bound = [&](const char *key) -> std::string {
    if (!e.attr(key))
      return "";
    return e.floats(e.temp(key), {}, {float(e.floatAttr(key, 0))});
  };
  std::string lo = bound("min"), hi = bound("max");
  e.add("Clip", {e.input(0), lo, hi}, e.output());
  return nnc::Status();
}

/// Normalizes over the trailing rank(weight) dimensions (LayerNormalization is opset 17's).
nnc::Status exportLayerNorm(Emitter &e) {
  auto weight = e.knownShapes->find(e.input(1));
  if (weight == e.knownShapes->end())
    return e.fail("the weight must be a parameter");
  onnx::NodeProto &n = e.add("LayerNormalization", {e.input(0), e.input(1), e.input(2)},
                             e.output());
  setInt(n, "axis", -int64_t(weight->second.size()));
  setFloat(n, "epsilon", e.floatAttr("epsilon", 1e-5));
  return nnc::Status();
}

/// Inference form: the running statistics (initializers, as every parameter) normalize.
nnc::Status exportBatchNorm(Emitter &e) {
  onnx::NodeProto &n = e.add("BatchNormalization",
                             {e.input(0), e.input(1), e.input(2), e.input(3), e.input(4)},
                             e.output());
  setFloat(n, "epsilon", e.floatAttr("epsilon", 1e-5));
  return nnc::Status();
}

/// The target shape with a leading batch as -1, so that any batch reshapes (the other
/// dimensions are all known).
nnc::Status exportReshape(Emitter &e) {
  std::vector<int64_t> shape = e.intsAttr("shape", {});
  if (!shape.empty() && shape[0] == e.batch)
    shape[0] = -1;
  e.add("Reshape", {e.input(0), e.ints(e.temp("shape"), shape)}, e.output());
  return nnc::Status();
}

nnc::Status exportTranspose(Emitter &e) {
  setInts(e.add("Transpose", {e.input(0)}, e.output()), "perm", e.intsAttr("permutation", {}));
  return nnc::Status();
}

nnc::Status exportConcat(Emitter &e) {
  std::vector<std::string> inputs(e.node().inputs().begin(), e.node().inputs().end());
  setInt(e.add("Concat", inputs, e.output()), "axis", e.intAttr("axis", 0));
  return nnc::Status();
}

/// Slices along every dimension; a whole leading (batch) dimension stays whole at any batch.
nnc::Status exportSlice(Emitter &e) {
  std::vector<int64_t> start = e.intsAttr("start", {}), limit = e.intsAttr("limit", {});
  std::vector<int64_t> step = e.intsAttr("step", std::vector<int64_t>(start.size(), 1));
  if (!start.empty() && start[0] == 0 && limit[0] == e.batch && step[0] == 1)
    limit[0] = INT64_MAX;
  std::vector<int64_t> axes;
  for (size_t i = 0; i < start.size(); ++i)
    axes.push_back(int64_t(i));
  e.add("Slice", {e.input(0), e.ints(e.temp("starts"), start), e.ints(e.temp("ends"), limit),
                  e.ints(e.temp("axes"), axes), e.ints(e.temp("steps"), step)},
        e.output());
  return nnc::Status();
}

/// ReduceSum takes its axes as an input from opset 13, the others as an attribute until 18.
OpExporter reduce(const std::string &onnxOp) {
  return [onnxOp](Emitter &e) {
    std::vector<int64_t> axes = e.intsAttr("axes", {});
    onnx::NodeProto &n =
        onnxOp == "ReduceSum"
            ? e.add(onnxOp, {e.input(0), e.ints(e.temp("axes"), axes)}, e.output())
            : e.add(onnxOp, {e.input(0)}, e.output());
    if (onnxOp != "ReduceSum")
      setInts(n, "axes", axes);
    setInt(n, "keepdims", e.boolAttr("keepdim") ? 1 : 0);
    return nnc::Status();
  };
}

/// Entries above the diagonal of the trailing (T, T) become `fill`: the mask is built from the
/// input's own T, so any sequence length works.
nnc::Status exportCausalMask(Emitter &e) {
  setInt(e.add("Shape", {e.input(0)}, e.temp("t")), "start", -1);
  setInt(e.add("Concat", {e.temp("t"), e.temp("t")}, e.temp("tt")), "axis", 0);
  onnx::NodeProto &ones = e.add("ConstantOfShape", {e.temp("tt")}, e.temp("ones"));
  onnx::AttributeProto &value = *ones.add_attribute();
  value.set_name("value");
  value.set_type(onnx::AttributeProto::TENSOR);
  value.mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  value.mutable_t()->add_dims(1);
  value.mutable_t()->add_float_data(1.0f);
  setInt(e.add("Trilu", {e.temp("ones")}, e.temp("lower")), "upper", 0);
  setInt(e.add("Cast", {e.temp("lower")}, e.temp("keep")), "to", onnx::TensorProto::BOOL);
  float fill = float(e.floatAttr("fill", -INFINITY));
  e.add("Where", {e.temp("keep"), e.input(0), e.floats(e.temp("fill"), {}, {fill})},
        e.output());
  return nnc::Status();
}

nnc::Status exportEmbedding(Emitter &e) {
  setInt(e.add("Gather", {e.input(1), e.input(0)}, e.output()), "axis", 0);
  return nnc::Status();
}

/// Zero padding at either end of each dimension (interior padding has no ONNX op).
nnc::Status exportPad(Emitter &e) {
  for (int64_t i : e.intsAttr("interior", {}))
    if (i != 0)
      return e.fail("interior padding has no ONNX equivalent");
  std::vector<int64_t> pads = e.intsAttr("low", {}), high = e.intsAttr("high", {});
  pads.insert(pads.end(), high.begin(), high.end());
  e.add("Pad", {e.input(0), e.ints(e.temp("pads"), pads)}, e.output());
  return nnc::Status();
}

/// A constant node's value, as an initializer under the node's output name.
nnc::Status exportConstant(Emitter &e) {
  const Attribute *value = e.attr("value");
  if (!value || !value->has_tensor())
    return e.fail("has no value");
  const TensorValue &tensor = value->tensor();
  std::vector<int64_t> shape(tensor.type().shape().begin(), tensor.type().shape().end());
  std::vector<float> values(tensor.values().begin(), tensor.values().end());
  switch (tensor.type().dtype()) {
  case F32:
    e.floats(e.output(), shape, values);
    break;
  case I32:
  case I64: {
    // Integer constants hold integral values (the frontend checks).
    onnx::TensorProto &t = e.initializer(e.output(), tensor.type().dtype(), shape);
    for (float v : values)
      tensor.type().dtype() == I64 ? t.add_int64_data(int64_t(v)) : t.add_int32_data(int32_t(v));
    break;
  }
  default:
    return e.fail("constants of this dtype are not exported");
  }
  return nnc::Status();
}

/// What each nnc op becomes. A new op (batch_norm, say) is one entry here.
const std::map<std::string, OpExporter> &opExporters() {
  static const std::map<std::string, OpExporter> table = {
      {"add", same("Add")},
      {"avg_pool2d", pool("AveragePool")},
      {"batch_norm", exportBatchNorm},
      {"causal_mask", exportCausalMask},
      {"clamp", exportClamp},
      {"concat", exportConcat},
      {"constant", exportConstant},
      {"conv2d", exportConv2d},
      {"div", same("Div")},
      {"dropout", same("Identity")},  // inverted dropout: the identity at inference
      {"embedding", exportEmbedding},
      {"exp", same("Exp")},
      {"gelu", exportGelu},
      {"layer_norm", exportLayerNorm},
      {"linear", exportLinear},
      {"log_softmax", softmaxLike("LogSoftmax")},
      {"matmul", same("MatMul")},
      {"max_pool2d", pool("MaxPool")},
      {"mul", same("Mul")},
      {"pad", exportPad},
      {"reduce_max", reduce("ReduceMax")},
      {"reduce_mean", reduce("ReduceMean")},
      {"reduce_sum", reduce("ReduceSum")},
      {"relu", same("Relu")},
      {"reshape", exportReshape},
      {"sigmoid", same("Sigmoid")},
      {"slice", exportSlice},
      {"softmax", softmaxLike("Softmax")},
      {"sqrt", same("Sqrt")},
      {"stop_gradient", same("Identity")},
      {"sub", same("Sub")},
      {"tanh", same("Tanh")},
      {"transpose", exportTranspose},
  };
  return table;
}

/// The nodes the model's outputs depend on, in the model's (topological) order.
std::vector<const Node *> predictNodes(const Model &model) {
  std::map<std::string, const Node *> producer;
  for (const Node &node : model.nodes())
    for (const std::string &out : node.outputs())
      producer[out] = &node;
  std::set<const Node *> needed;
  std::vector<std::string> work(model.outputs().begin(), model.outputs().end());
  while (!work.empty()) {
    auto it = producer.find(work.back());
    work.pop_back();
    if (it == producer.end() || !needed.insert(it->second).second)
      continue;
    work.insert(work.end(), it->second->inputs().begin(), it->second->inputs().end());
  }
  std::vector<const Node *> nodes;
  for (const Node &node : model.nodes())
    if (needed.count(&node))
      nodes.push_back(&node);
  return nodes;
}

/// name, element type and shape; a leading batch dimension is symbolic.
void describe(onnx::ValueInfoProto &info, const std::string &name, DType dtype,
              const std::vector<int64_t> *shape, bool batched) {
  info.set_name(name);
  onnx::TypeProto::Tensor &tensor = *info.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(onnxType(dtype));
  if (!shape)
    return;
  onnx::TensorShapeProto &dims = *tensor.mutable_shape();
  for (size_t i = 0; i < shape->size(); ++i) {
    if (i == 0 && batched)
      dims.add_dim()->set_dim_param("batch");
    else
      dims.add_dim()->set_dim_value((*shape)[i]);
  }
}

/// A parameter's trained value as an initializer under the parameter's name.
nnc::Status addParameter(onnx::GraphProto &graph, const Parameter &parameter,
                         const nnrt::HostTensor *value) {
  if (!value)
    return nnc::Status::error("parameter '" + parameter.name() + "' has no value to export");
  if (nnc::Status s = nnrt::checkType(*value, parameter.type()); !s.ok())
    return nnc::Status::error("parameter '" + parameter.name() + "': " + s.message());
  onnx::TensorProto &t = *graph.add_initializer();
  t.set_name(parameter.name());
  t.set_data_type(onnxType(value->dtype));
  for (int64_t d : value->shape)
    t.add_dims(d);
  t.set_raw_data(value->data.data(), value->data.size());  // little-endian, as ONNX's raw_data
  return nnc::Status();
}

/// (x - mean) / stddev behind the input `input` (per-example shape `example`), as --fit
/// normalized: one statistic for every value, or one per value of an example, or per column
/// of the last dimension. Returns the normalized tensor's name.
nnc::StatusOr<std::string> addNormalization(onnx::GraphProto &graph, const std::string &input,
                                            const std::vector<int64_t> &example,
                                            const nnrt::HostTensor &mean,
                                            const nnrt::HostTensor &stddev) {
  int64_t n = mean.numElements(), perExample = nnrt::numElements(example);
  std::vector<int64_t> shape;
  if (n == perExample)
    shape = example;
  else if (n == 1 || (!example.empty() && n == example.back()))
    shape = {n};
  else
    return nnc::Status::error(std::string(kMeanTensor) + " has " + std::to_string(n) +
                              " values, which do not fit input '" + input + "' of per-example "
                              "shape " + nnrt::formatShape(example));
  for (const auto *stat : {&mean, &stddev}) {
    onnx::TensorProto &t = *graph.add_initializer();
    t.set_name(stat == &mean ? kMeanTensor : kStddevTensor);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape)
      t.add_dims(d);
    for (float v : stat->toFloats())
      t.add_float_data(v);
  }
  std::string centered = input + "/centered", normalized = input + "/normalized";
  for (auto [op, in, stat, out] : {std::tuple("Sub", input, kMeanTensor, centered),
                                   std::tuple("Div", centered, kStddevTensor, normalized)}) {
    onnx::NodeProto &node = *graph.add_node();
    node.set_op_type(op);
    node.set_name(out);
    node.add_input(in);
    node.add_input(stat);
    node.add_output(out);
  }
  return normalized;
}

} // namespace

nnc::StatusOr<std::string> exportOnnx(const Model &model, const NamedTensors &values,
                                      const std::map<std::string, TensorType> &outputTypes) {
  if (model.outputs_size() == 0)
    return nnc::Status::error("model '" + model.name() +
                              "' has no outputs to export (Model.add_output)");
  std::map<std::string, const nnrt::HostTensor *> valueOf;
  for (const auto &[name, tensor] : values)
    valueOf[name] = &tensor;
  std::vector<const Node *> nodes = predictNodes(model);
  std::set<std::string> used(model.outputs().begin(), model.outputs().end());
  for (const Node *node : nodes)
    used.insert(node->inputs().begin(), node->inputs().end());

  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.set_producer_name("nnc");
  proto.add_opset_import()->set_version(kOpset);
  onnx::GraphProto &graph = *proto.mutable_graph();
  graph.set_name(model.name());

  // Graph inputs, the first features input normalized as training normalized it.
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::string> renamed;
  int64_t batch = 0;
  bool normalize = valueOf.count(kMeanTensor) && valueOf.count(kStddevTensor);
  for (const GraphInput &input : model.inputs()) {
    if (!used.count(input.name()))
      continue;
    std::vector<int64_t> shape(input.type().shape().begin(), input.type().shape().end());
    shapes[input.name()] = shape;
    batch = batch ? batch : (shape.empty() ? 0 : shape[0]);
    describe(*graph.add_input(), input.name(), input.type().dtype(), &shape, !shape.empty());
    if (normalize && input.role() != GraphInput::LABELS && input.type().dtype() == F32) {
      std::vector<int64_t> example(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
      nnc::StatusOr<std::string> normalized =
          addNormalization(graph, input.name(), example, *valueOf[kMeanTensor],
                           *valueOf[kStddevTensor]);
      if (!normalized.ok())
        return normalized.status();
      renamed[input.name()] = *normalized;
      normalize = false;
    }
  }
  for (const Parameter &parameter : model.parameters()) {
    if (!used.count(parameter.name()))
      continue;
    shapes[parameter.name()].assign(parameter.type().shape().begin(),
                                    parameter.type().shape().end());
    auto it = valueOf.find(parameter.name());
    if (nnc::Status s = addParameter(graph, parameter, it == valueOf.end() ? nullptr : it->second);
        !s.ok())
      return s;
  }

  for (const Node *original : nodes) {
    auto exporter = opExporters().find(original->op());
    if (exporter == opExporters().end())
      return nnc::Status::error("node '" + original->name() + "': op '" + original->op() +
                                "' has no ONNX export");
    Node node = *original;
    for (std::string &in : *node.mutable_inputs())
      if (renamed.count(in))
        in = renamed[in];
    Emitter emitter(graph, node);
    emitter.knownShapes = &shapes;
    emitter.batch = batch;
    if (nnc::Status s = exporter->second(emitter); !s.ok())
      return s;
  }
  // The graph computes in f32 whatever precision the plan trained in. Without a known shape
  // an output gets only its element type (ONNX's checker then refuses it; runtimes do not).
  for (const std::string &output : model.outputs()) {
    auto type = outputTypes.find(output);
    if (type == outputTypes.end()) {
      describe(*graph.add_output(), output, F32, nullptr, false);
      continue;
    }
    std::vector<int64_t> shape(type->second.shape().begin(), type->second.shape().end());
    describe(*graph.add_output(), output, F32, &shape, !shape.empty() && shape[0] == batch);
  }

  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    return nnc::Status::error("cannot serialize the ONNX model");
  return bytes;
}

nnc::Status exportPlanToOnnx(const nnrt::Executor &exec, const NamedTensors &normalization,
                             const std::string &planPath, const std::string &path) {
  const nnc::Plan &plan = exec.plan();
  if (!plan.has_model())
    return nnc::Status::error(planPath + ": the plan does not hold the model it was compiled "
                              "from (compiled by an older nnc): compile it again to export it");
  nnc::StatusOr<NamedTensors> values = nnrt::trainer::captureParameters(exec);
  if (!values.ok())
    return nnc::Status::error(planPath + ": " + values.status().message());
  values->insert(values->end(), normalization.begin(), normalization.end());
  std::map<std::string, TensorType> outputTypes;  // the predict function's
  for (const nnc::Function &function : plan.functions())
    if (function.name() == "predict")
      for (const nnc::TensorSlice &output : function.outputs())
        outputTypes[output.name()] = output.type();
  nnc::StatusOr<std::string> bytes = exportOnnx(plan.model(), *values, outputTypes);
  if (!bytes.ok())
    return nnc::Status::error(path + ": " + bytes.status().message());
  return nnrt::writeFile(path, *bytes);
}

} // namespace nnc::exporter
