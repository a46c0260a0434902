// The non-op half of the Model builder: errors, names, graph inputs, parameters, the training
// spec and saving. The ops and their shape rules live in Ops.cpp.
#include "frontend/Model.h"

#include "support/AtomicFile.h"

#include <sstream>

namespace nnc::frontend {

std::string formatShape(const Shape &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string formatDType(DType dtype) {
  switch (dtype) {
  case F32:
    return "f32";
  case F16:
    return "f16";
  case BF16:
    return "bf16";
  case I32:
    return "i32";
  case I64:
    return "i64";
  default:
    return "unset";
  }
}

bool isFloat(DType dtype) { return dtype == F32 || dtype == F16 || dtype == BF16; }
bool isInteger(DType dtype) { return dtype == I32 || dtype == I64; }

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

namespace init {
static Initializer ofKind(Initializer::Kind kind) {
  Initializer init;
  init.set_kind(kind);
  return init;
}
Initializer zeros() { return ofKind(Initializer::ZEROS); }
Initializer ones() { return ofKind(Initializer::ONES); }
Initializer constant(double value) {
  Initializer init = ofKind(Initializer::CONSTANT);
  init.set_value(value);
  return init;
}
Initializer uniform(double low, double high) {
  Initializer init = ofKind(Initializer::UNIFORM);
  init.set_low(low);
  init.set_high(high);
  return init;
}
Initializer normal(double mean, double stddev) {
  Initializer init = ofKind(Initializer::NORMAL);
  init.set_mean(mean);
  init.set_stddev(stddev);
  return init;
}
Initializer kaimingUniform(int64_t fanIn) {
  Initializer init = ofKind(Initializer::KAIMING_UNIFORM);
  init.set_fan_in(fanIn);
  return init;
}
Initializer xavierUniform(int64_t fanIn, int64_t fanOut) {
  Initializer init = ofKind(Initializer::XAVIER_UNIFORM);
  init.set_fan_in(fanIn);
  init.set_fan_out(fanOut);
  return init;
}
} // namespace init

Model::Model(std::string name) {
  proto_.set_format_version(FORMAT_VERSION_CURRENT);
  proto_.set_name(name);
  if (name.empty())
    fail("model name must not be empty");
}

Tensor Model::fail(const std::string &message) {
  if (error_.empty())
    error_ = message;
  return {};
}

bool Model::checkNewTensor(const std::string &what, const std::string &name, const Shape &shape,
                           DType dtype) {
  if (!ok())
    return false;
  std::string where = what + " '" + name + "': ";
  if (name.empty()) {
    fail(what + " name must not be empty");
    return false;
  }
  if (hasTensor(name)) {
    fail(where + "duplicate name");
    return false;
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) {
      fail(where + "dimension " + std::to_string(i) + " must be positive, got " +
           formatShape(shape));
      return false;
    }
  }
  if (dtype == DTYPE_UNSET) {
    fail(where + "dtype must be set");
    return false;
  }
  return true;
}

static void setType(TensorType *type, const Shape &shape, DType dtype) {
  type->set_dtype(dtype);
  for (int64_t d : shape)
    type->add_shape(d);
}

Tensor Model::input(const std::string &name, const Shape &shape, DType dtype,
                    GraphInput::Role role) {
  if (!checkNewTensor("input", name, shape, dtype))
    return {};
  // The leading dimension is the batch, so a graph input has at least one.
  if (shape.empty())
    return fail("input '" + name + "': needs a leading batch dimension, got shape []");
  GraphInput *in = proto_.add_inputs();
  in->set_name(name);
  setType(in->mutable_type(), shape, dtype);
  in->set_role(role);
  tensors_.insert(name);
  return Tensor(this, name, shape, dtype);
}

Tensor Model::parameter(const std::string &name, const Shape &shape, const Initializer &init,
                        DType dtype, bool frozen) {
  if (!checkNewTensor("parameter", name, shape, dtype))
    return {};
  if (!isFloat(dtype))
    return fail("parameter '" + name + "': dtype must be a float type, got " + formatDType(dtype));
  if (init.kind() == Initializer::KIND_UNSET)
    return fail("parameter '" + name + "': initializer kind must be set");
  Parameter *param = proto_.add_parameters();
  param->set_name(name);
  setType(param->mutable_type(), shape, dtype);
  *param->mutable_init() = init;
  param->set_frozen(frozen);
  tensors_.insert(name);
  return Tensor(this, name, shape, dtype);
}

bool Model::declareLayer(const std::string &name, const std::string &kind) {
  if (!ok())
    return false;
  if (name.empty()) {
    fail(kind + " layer name must not be empty");
    return false;
  }
  if (!layers_.insert(name).second) {
    fail("layer '" + name + "' (" + kind + "): duplicate layer name");
    return false;
  }
  return true;
}

void Model::setLoss(Tensor loss) {
  if (!ok())
    return;
  if (!loss.valid() || loss.model() != this) {
    fail("setLoss: the loss is not a tensor of this model");
    return;
  }
  if (loss.rank() != 0 || !isFloat(loss.dtype())) {
    fail("setLoss: '" + loss.name() + "' must be a float scalar, got " + formatDType(loss.dtype()) +
         formatShape(loss.shape()));
    return;
  }
  training().set_loss(loss.name());
}

void Model::addOutput(Tensor output) {
  if (!ok())
    return;
  if (!output.valid() || output.model() != this) {
    fail("addOutput: the output is not a tensor of this model");
    return;
  }
  for (const std::string &existing : proto_.outputs()) {
    if (existing == output.name()) {
      fail("addOutput: '" + output.name() + "' is already an output");
      return;
    }
  }
  proto_.add_outputs(output.name());
}

int64_t Model::parameterCount() const {
  int64_t total = 0;
  for (const Parameter &param : proto_.parameters()) {
    int64_t n = 1;
    for (int64_t d : param.type().shape())
      n *= d;
    total += n;
  }
  return total;
}

std::string Model::summary() const {
  std::ostringstream os;
  os << "model '" << proto_.name() << "': " << proto_.nodes_size() << " nodes, "
     << proto_.parameters_size() << " parameters (" << parameterCount() << " values)";
  return os.str();
}

Status Model::save(const std::string &path) const {
  std::string where = "model '" + proto_.name() + "': ";
  if (!ok())
    return Status::error(where + "not saved because of an earlier error: " + error_);
  const std::string &loss = proto_.training().loss();
  if (loss.empty())
    return Status::error(where + "no loss set; call setLoss()");
  if (!hasTensor(loss))
    return Status::error(where + "the loss '" + loss + "' is not a tensor of the model");
  std::string bytes;
  if (!proto_.SerializeToString(&bytes))
    return Status::error(where + "cannot serialize the model");
  // Atomically, so that a killed or failed write never leaves half a model under `path`.
  if (Status written = writeFileAtomically(path, bytes); !written.ok())
    return Status::error(where + written.message());
  return Status();
}

} // namespace nnc::frontend
