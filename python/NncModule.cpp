// _nnc, the C++ half of the nnc Python package: pybind11 bindings of the frontend (Model and its
// layers), of `nnc compile` (compiler/driver's compileModel) and of the runtime (a plan on a
// device: predict, parameters, checkpoints, and --fit through prepareFit/runFit). Everything here
// converts between Python and the C++ libraries; nnc/__init__.py adds the Python-side glue.
//
// Errors: the libraries' messages, unchanged, as nnc.Error; an ndarray of the wrong dtype or
// shape as ValueError naming the input and the shape it should have.
#include "compiler/driver/NncMain.h"
#include "compiler/import/ModelImporter.h"
#include "export/OnnxExporter.h"
#include "frontend/Layers.h"
#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/trainer/Predict.h"
#include "runtime/device/Drivers.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/FitCommand.h"
#include "runtime/trainer/StopSignals.h"

#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>
#include <optional>

namespace py = pybind11;
using namespace pybind11::literals;
namespace fe = nnc::frontend;

namespace {

/// nnc.Error: a failure of the compiler or the runtime, carrying their one-line message.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(const nnc::Status &status) {
  if (!status.ok())
    throw Error(status.message());
}

template <typename T> T check(nnc::StatusOr<T> value) {
  check(value.status());
  return std::move(*value);
}

std::string upper(std::string s) {
  for (char &c : s)
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

nnc::DType parseDType(const std::string &name) {
  nnc::DType dtype;
  if (!nnc::DType_Parse(upper(name), &dtype) || dtype == nnc::DTYPE_UNSET)
    throw py::value_error("unknown dtype '" + name + "' (f32, f16, bf16, i32, i64)");
  return dtype;
}

// --- Frontend ---------------------------------------------------------------------------------

/// The frontend records its first error and returns invalid tensors from then on; Python
/// raises at the call that failed instead.
fe::Tensor checked(const fe::Model &model, fe::Tensor result) {
  if (!model.ok())
    throw Error(model.error());
  return result;
}

fe::Tensor checked(fe::Tensor result, const fe::Tensor &input) {
  return input.model() ? checked(*input.model(), result) : result;
}

/// Sets the fields of a TrainingSpec (or one of its messages) from keyword arguments, as
/// written in model.proto: numbers, strings, enum names (any case), messages as dicts,
/// repeated fields as lists.
void setField(google::protobuf::Message &message, const std::string &name, py::handle value);

void setFields(google::protobuf::Message &message, const py::dict &fields) {
  for (auto [key, value] : fields)
    setField(message, py::cast<std::string>(key), value);
}

void setField(google::protobuf::Message &message, const std::string &name, py::handle value) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor *type = message.GetDescriptor();
  const FieldDescriptor *field = type->FindFieldByName(name);
  if (!field)
    throw Error(type->name() + " has no field '" + name + "'");
  const google::protobuf::Reflection *r = message.GetReflection();
  std::string where = type->name() + "." + name;
  if (field->is_repeated()) {
    if (!py::isinstance<py::list>(value) && !py::isinstance<py::tuple>(value))
      throw py::type_error(where + " is repeated: give a list");
    r->ClearField(&message, field);
    for (py::handle item : value) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        setFields(*r->AddMessage(&message, field), py::cast<py::dict>(item));
      else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING)
        r->AddString(&message, field, py::cast<std::string>(item));
      else if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
        auto *v = field->enum_type()->FindValueByName(upper(py::cast<std::string>(item)));
        if (!v)
          throw Error(where + ": no value '" + py::cast<std::string>(item) + "'");
        r->AddEnum(&message, field, v);
      } else
        throw py::type_error(where + ": lists of this type are not supported");
    }
    return;
  }
  switch (field->cpp_type()) {
  case FieldDescriptor::CPPTYPE_MESSAGE:
    if (!py::isinstance<py::dict>(value))
      throw py::type_error(where + " is a message: give a dict of its fields");
    setFields(*r->MutableMessage(&message, field), py::cast<py::dict>(value));
    break;
  case FieldDescriptor::CPPTYPE_ENUM: {
    std::string text = py::cast<std::string>(value);
    auto *v = field->enum_type()->FindValueByName(upper(text));
    if (!v)
      throw Error(where + ": no value '" + text + "'");
    r->SetEnum(&message, field, v);
    break;
  }
  case FieldDescriptor::CPPTYPE_STRING:
    r->SetString(&message, field, py::cast<std::string>(value));
    break;
  case FieldDescriptor::CPPTYPE_DOUBLE:
    r->SetDouble(&message, field, py::cast<double>(value));
    break;
  case FieldDescriptor::CPPTYPE_FLOAT:
    r->SetFloat(&message, field, py::cast<float>(value));
    break;
  case FieldDescriptor::CPPTYPE_INT64:
    r->SetInt64(&message, field, py::cast<int64_t>(value));
    break;
  case FieldDescriptor::CPPTYPE_UINT64:
    r->SetUInt64(&message, field, py::cast<uint64_t>(value));
    break;
  case FieldDescriptor::CPPTYPE_INT32:
    r->SetInt32(&message, field, py::cast<int32_t>(value));
    break;
  case FieldDescriptor::CPPTYPE_UINT32:
    r->SetUInt32(&message, field, py::cast<uint32_t>(value));
    break;
  case FieldDescriptor::CPPTYPE_BOOL:
    r->SetBool(&message, field, py::cast<bool>(value));
    break;
  }
}

/// `nnc import PATH` in process, with the flags that shape an ONNX model (--batch-size,
/// --loss, --label-smoothing): the nnc.Model it becomes, serialized.
py::bytes importModel(const std::string &path, std::optional<int64_t> batchSize,
                      const std::string &loss, std::optional<double> labelSmoothing) {
  nnc::ModelOptions options;
  options.batchSize = batchSize;
  options.loss = loss;
  options.labelSmoothing = labelSmoothing;
  nnc::Model proto;
  std::string error, bytes;
  if (!nnc::loadModel(path, options, /*needLoss=*/false, proto, error))
    throw Error("nnc: error: " + path + ": " + error);
  proto.SerializeToString(&bytes);
  return py::bytes(bytes);
}

/// Writes a model file: `source` (a Model, the path of a model.pb/.pbtxt, or a serialized
/// nnc.Model) with `spec` merged into its TrainingSpec, as binary protobuf to `path`.
void writeModel(py::object source, const std::string &path, const py::dict &spec) {
  nnc::Model proto;
  if (py::isinstance<py::bytes>(source)) {
    if (!proto.ParseFromString(py::cast<std::string>(source)))
      throw Error(path + ": the model bytes do not parse as an nnc.Model");
  } else if (py::isinstance<fe::Model>(source)) {
    const fe::Model &model = py::cast<const fe::Model &>(source);
    if (!model.ok())
      throw Error(model.error());
    proto = model.proto();
  } else {
    std::string error, input = py::cast<std::string>(py::str(source));
    if (!nnc::readModelFile(input, proto, error))
      throw Error("nnc: error: " + input + ": " + error);
  }
  setFields(*proto.mutable_training(), spec);
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    throw Error(path + ": cannot serialize the model");
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size())
    throw Error(path + ": cannot write: " + std::strerror(errno));
  std::fclose(file);
}

/// `nnc compile INPUT -o OUTPUT --target TARGET` in process: (exit code, what nnc printed).
std::pair<int, std::string> compileFile(const std::string &input, const std::string &output,
                                        const std::string &target) {
  nnc::CompileRequest request;
  request.input = input;
  request.output = output;
  request.target = target;
  std::string messages;
  llvm::raw_string_ostream errs(messages);
  int code = nnc::compileModel(request, errs);
  errs.flush();
  return {code, messages};
}

// --- Arrays -----------------------------------------------------------------------------------

py::dtype numpyType(nnc::DType dtype) {
  switch (dtype) {
  case nnc::F32: return py::dtype::of<float>();
  case nnc::F16: return py::dtype("float16");
  case nnc::BF16: return py::dtype("uint16");  // numpy has no bfloat16: the raw bits
  case nnc::I32: return py::dtype::of<int32_t>();
  case nnc::I64: return py::dtype::of<int64_t>();
  default: throw Error("a tensor of dtype " + nnrt::formatDType(dtype) + " has no numpy type");
  }
}

/// The array as a HostTensor; a dtype nnc has no name for is a ValueError naming `where` and
/// `expected` (the type it should have).
nnrt::HostTensor toTensor(py::handle object, const std::string &where,
                          const std::string &expected) {
  py::array array = py::module_::import("numpy").attr("asarray")(object, "order"_a = "C");
  nnrt::HostTensor tensor;
  for (nnc::DType dtype : {nnc::F32, nnc::F16, nnc::I32, nnc::I64})
    if (array.dtype().is(numpyType(dtype)))
      tensor.dtype = dtype;
  for (py::ssize_t i = 0; i < array.ndim(); ++i)
    tensor.shape.push_back(array.shape(i));
  if (tensor.dtype == nnc::DTYPE_UNSET)
    throw py::value_error(where + ": expected " + expected + ", got " +
                          nnrt::formatShape(tensor.shape) + " " +
                          py::cast<std::string>(py::str(array.dtype())));
  tensor.data.resize(array.nbytes());
  std::memcpy(tensor.data.data(), array.data(), array.nbytes());
  return tensor;
}

py::array toArray(const nnrt::HostTensor &tensor) {
  py::array array(numpyType(tensor.dtype), tensor.shape);
  std::memcpy(array.mutable_data(), tensor.data.data(), tensor.data.size());
  return array;
}

// --- Runtime ----------------------------------------------------------------------------------

/// A Python callback object's on_step_end / on_epoch_end / on_eval_end methods, called with
/// the trainer's events as dicts. An exception in a callback stops training and is re-raised
/// by fit.
class CallbackHook : public nnrt::monitor::Hook {
public:
  CallbackHook(py::list callbacks, std::optional<py::error_already_set> &raised)
      : callbacks_(std::move(callbacks)), raised_(raised) {}

  nnc::Status onStepEnd(const nnrt::monitor::StepEvent &e) override {
    py::dict d("step"_a = e.step, "epoch"_a = e.epoch, "batch_in_epoch"_a = e.batchInEpoch,
               "steps_per_epoch"_a = e.stepsPerEpoch, "total_steps"_a = e.totalSteps,
               "epochs"_a = e.epochs, "batch_size"_a = e.batchSize, "loss"_a = e.loss,
               "lr"_a = e.lr, "skipped"_a = e.skipped, "step_seconds"_a = e.stepSeconds,
               "samples_per_second"_a = e.samplesPerSecond);
    optional(d, "grad_norm", e.gradNorm);
    optional(d, "loss_scale", e.lossScale);
    optional(d, "skipped_steps", e.skippedSteps);
    return call("on_step_end", d);
  }
  nnc::Status onEvalEnd(const nnrt::monitor::EvalEvent &e) override {
    py::dict d("step"_a = e.step, "epoch"_a = e.epoch, "split"_a = e.split, "loss"_a = e.loss,
               "examples"_a = e.examples);
    optional(d, "accuracy", e.accuracy);
    return call("on_eval_end", d);
  }
  nnc::Status onEpochEnd(const nnrt::monitor::EpochEvent &e) override {
    py::dict d("epoch"_a = e.epoch, "epochs"_a = e.epochs, "step"_a = e.step,
               "train_loss"_a = e.trainLoss, "lr"_a = e.lr, "seconds"_a = e.seconds,
               "samples_per_second"_a = e.samplesPerSecond);
    optional(d, "val_loss", e.valLoss);
    optional(d, "val_accuracy", e.valAccuracy);
    return call("on_epoch_end", d);
  }

private:
  static void optional(py::dict &d, const char *key, const std::optional<double> &value) {
    if (value)
      d[key] = *value;
  }
  nnc::Status call(const char *method, const py::dict &metrics) {
    for (py::handle callback : callbacks_) {
      if (!py::hasattr(callback, method))
        continue;
      try {
        callback.attr(method)(metrics);
      } catch (py::error_already_set &e) {
        std::string what = e.what();
        raised_ = std::move(e);
        return nnc::Status::error("callback " + std::string(method) + ": " + what);
      }
    }
    return nnc::Status();
  }

  py::list callbacks_;
  std::optional<py::error_already_set> &raised_;
};

/// A plan prepared on a device and initialized ("init" ran), with the input normalization of
/// the last fit or loaded checkpoint.
class Plan {
public:
  Plan(py::bytes bytes, std::string name, const std::string &device)
      : bytes_(bytes), name_(std::move(name)) {
    nnc::Plan plan = check(nnrt::parsePlan(bytes_));
    device_ = check(nnrt::createDevice(device));
    executor_ = check(nnrt::Executor::prepare(std::move(plan), *device_));
    if (executor_->function("init"))
      if (nnc::Status s = executor_->run("init"); !s.ok())
        throw Error(name_ + ": " + s.message());
  }

  py::bytes bytes() const { return py::bytes(bytes_); }
  const std::string &name() const { return name_; }

  /// One array, or a tuple/list of one per input when predict takes several; returns one array,
  /// or a tuple of one per output when predict has several.
  py::object predict(py::handle input) {
    const nnc::Function *predict = check(nnrt::findPredict(executor_->plan(), name_));
    std::vector<py::handle> given{input};
    if (predict->inputs_size() > 1) {
      if (!py::isinstance<py::tuple>(input) && !py::isinstance<py::list>(input))
        throw py::value_error(name_ + ": predict takes " + std::to_string(predict->inputs_size()) +
                              " inputs (" + nnrt::predictInputNames(*predict) +
                              "): pass a tuple of arrays");
      given.assign(input.begin(), input.end());
    }
    if (given.size() != size_t(predict->inputs_size()))
      throw py::value_error(name_ + ": predict takes " + std::to_string(predict->inputs_size()) +
                            " inputs (" + nnrt::predictInputNames(*predict) + "), given " +
                            std::to_string(given.size()));
    std::vector<nnrt::HostTensor> tensors;
    std::vector<std::string> wheres;
    for (int i = 0; i < predict->inputs_size(); ++i) {
      const nnc::TensorSlice &slot = predict->inputs(i);
      wheres.push_back("predict input '" + slot.name() + "'");
      std::string expected = nnrt::formatShape(nnrt::shapeOf(slot.type())) + " " +
                             nnrt::formatDType(slot.type().dtype()) + " (or any number of rows)";
      tensors.push_back(toTensor(given[i], wheres.back(), expected));
    }
    if (nnc::Status s = nnrt::checkPredictInputs(*predict, tensors, wheres); !s.ok())
      throw py::value_error(s.message());
    std::vector<nnrt::HostTensor> outputs = check(nnrt::predictOutputs(
        *executor_, *predict, std::move(tensors), norm_ ? &*norm_ : nullptr, wheres, name_));
    if (outputs.size() == 1)
      return toArray(outputs[0]);
    py::tuple arrays(outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i)
      arrays[i] = toArray(outputs[i]);
    return std::move(arrays);
  }

  /// Every parameter (weights and optimizer state) and the input normalization, as
  /// nnrun --dump-parameters writes them.
  py::dict parameters() const {
    py::dict out;
    for (const auto &[name, tensor] : check(nnrt::trainer::captureParameters(*executor_)))
      out[py::str(name)] = toArray(tensor);
    if (norm_)
      for (const auto &[name, tensor] : norm_->tensors())
        out[py::str(name)] = toArray(tensor);
    return out;
  }

  /// As nnrun --load-parameters: every weight must be given; optimizer state may be absent.
  void loadParameters(const py::dict &values) {
    std::vector<std::pair<const nnc::TensorSlice *, nnrt::HostTensor>> loaded;
    for (const nnc::TensorSlice &parameter : executor_->plan().parameters()) {
      std::string where = "parameter '" + parameter.name() + "'";
      std::string expected = nnrt::formatShape(nnrt::shapeOf(parameter.type())) + " " +
                             nnrt::formatDType(parameter.type().dtype());
      if (!values.contains(parameter.name())) {
        if (parameter.optimizer_state())
          continue;
        throw py::value_error(where + " is missing (expected " + expected + ")");
      }
      nnrt::HostTensor tensor = toTensor(values[py::str(parameter.name())], where, expected);
      if (nnc::Status s = nnrt::checkType(tensor, parameter.type()); !s.ok())
        throw py::value_error(where + ": " + s.message());
      loaded.emplace_back(&parameter, std::move(tensor));
    }
    std::vector<std::pair<std::string, nnrt::HostTensor>> normTensors;
    for (const char *name : {nnrt::trainer::kMeanTensor, nnrt::trainer::kStddevTensor})
      if (values.contains(name))
        normTensors.emplace_back(name, toTensor(values[name], name, "f32"));
    auto norm = check(nnrt::trainer::Normalization::fromTensors(normTensors, "parameters"));
    for (const auto &[parameter, tensor] : loaded)
      check(executor_->write(*parameter, tensor));
    norm_ = std::move(norm);
  }

  /// The parameters and input normalization, as a checkpoint that nnrun --predict --checkpoint
  /// and load_checkpoint read (fit's checkpoint_dir keeps the trainer's position as well).
  void saveCheckpoint(const std::string &path) const {
    nnrt::trainer::Checkpoint checkpoint;
    checkpoint.modelSha256 = executor_->plan().metadata().model_sha256();
    checkpoint.state.seed = executor_->plan().seed();
    checkpoint.tensors = check(nnrt::trainer::captureParameters(*executor_));
    if (norm_)
      for (auto &tensor : norm_->tensors())
        checkpoint.tensors.push_back(std::move(tensor));
    check(nnrt::trainer::writeCheckpoint(path, checkpoint));
  }

  /// As nnrun --checkpoint: the weights, optimizer state and input normalization.
  void loadCheckpoint(const std::string &path) {
    nnrt::trainer::Checkpoint checkpoint = check(nnrt::trainer::readCheckpoint(path));
    check(nnrt::trainer::checkCheckpointFits(checkpoint, executor_->plan(), path));
    if (nnc::Status s = nnrt::trainer::restoreParameters(*executor_, checkpoint); !s.ok())
      throw Error(path + ": " + s.message());
    norm_ = check(nnrt::trainer::Normalization::fromTensors(checkpoint.tensors, path));
  }

  /// As nnrun --export-onnx: the predict graph with the current parameters and the input
  /// normalization, as ONNX.
  void exportOnnx(const std::string &path) const {
    check(nnc::exporter::exportPlanToOnnx(
        *executor_, norm_ ? norm_->tensors() : nnc::exporter::NamedTensors(), name_, path));
  }

  /// nnrun --fit --data SOURCE with `options` as its flags: {"epochs": 3} is --epochs 3,
  /// {"log_steps": True} is --log-steps.
  void fit(const std::string &source, const py::dict &options, py::list callbacks) {
    nnrt::trainer::FitOptions fit;
    fit.enabled = true;
    fit.data.source = source;
    fit.commandLine = "nnc.Plan.fit";
    for (auto [key, value] : options) {
      std::string flag = "--" + py::cast<std::string>(key);
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (value.is_none() || (py::isinstance<py::bool_>(value) && !py::cast<bool>(value)))
        continue;
      std::optional<std::string> text;
      if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
        text = "";
        for (py::handle item : value)
          *text += (text->empty() ? "" : ",") + py::cast<std::string>(py::str(item));
      } else if (!py::isinstance<py::bool_>(value)) {
        text = py::cast<std::string>(py::str(value));
      }
      fit.commandLine += " " + flag + (text ? " " + *text : "");
      if (flag == "--lr") {  // nnrun parses it itself: it is --train's too
        fit.lr = py::cast<double>(value);
        continue;
      }
      auto takeValue = [&]() -> nnc::StatusOr<std::string> {
        if (!text)
          return nnc::Status::error(flag + ": needs a value");
        return *text;
      };
      if (!check(nnrt::trainer::parseFitFlag(flag, takeValue, fit)))
        throw Error(flag + ": not an option of nnrun --fit (see nnrun --help)");
    }
    check(nnrt::trainer::checkFitOptions(fit));
    nnrt::trainer::FitJob job =
        check(nnrt::trainer::prepareFit(executor_->plan(), name_, fit, std::cout));
    std::optional<py::error_already_set> raised;
    std::vector<std::unique_ptr<nnrt::monitor::Hook>> hooks;
    hooks.push_back(std::make_unique<CallbackHook>(callbacks, raised));
    nnc::Status status = nnrt::trainer::runFit(*executor_, job, std::cout, std::move(hooks));
    std::cout.flush();
    if (raised)
      throw std::move(*raised);
    if (!status.ok() && nnrt::trainer::StopSignals::received() &&
        status.message().rfind("interrupted", 0) == 0) {
      PyErr_SetString(PyExc_KeyboardInterrupt, status.message().c_str());
      throw py::error_already_set();
    }
    check(status);
    norm_ = job.data.normalization;
  }

private:
  std::string bytes_, name_;
  std::unique_ptr<nnrt::Device> device_;
  std::unique_ptr<nnrt::Executor> executor_;  // uses device_: declared after it
  std::optional<nnrt::trainer::Normalization> norm_;
};

} // namespace

PYBIND11_MODULE(_nnc, m) {
  m.doc() = "nnc's C++ libraries: the frontend, the compiler driver and the runtime";
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);

  // Keyword names follow Model.h; every op returns a Tensor that keeps its Model alive.
  auto ka = py::keep_alive<0, 1>();
  py::class_<fe::Tensor>(m, "Tensor")
      .def_property_readonly("name", &fe::Tensor::name)
      .def_property_readonly("shape", &fe::Tensor::shape)
      .def_property_readonly("dtype", [](const fe::Tensor &t) { return fe::formatDType(t.dtype()); })
      .def("__repr__", [](const fe::Tensor &t) {
        return "Tensor('" + t.name() + "', " + fe::formatShape(t.shape()) + " " +
               fe::formatDType(t.dtype()) + ")";
      });

  using M = fe::Model;
  using T = fe::Tensor;
  using S = const std::string &;
  py::class_<M>(m, "Model")
      .def(py::init<std::string>(), "name"_a)
      .def("input",
           [](M &m, S name, const fe::Shape &shape, S dtype, S role) {
             nnc::GraphInput::Role r;
             if (!nnc::GraphInput::Role_Parse(upper(role), &r))
               throw py::value_error("unknown role '" + role + "' (features, labels)");
             return checked(m, m.input(name, shape, parseDType(dtype), r));
           },
           "name"_a, "shape"_a, "dtype"_a = "f32", "role"_a = "features", ka)
      .def("linear", [](M &m, T x, T w, std::optional<T> b, S name) {
             return checked(m, m.linear(x, w, b.value_or(T()), name)); },
           "x"_a, "weight"_a, "bias"_a = py::none(), "name"_a = "", ka)
      .def("matmul", [](M &m, T a, T b, S n) { return checked(m, m.matmul(a, b, n)); },
           "a"_a, "b"_a, "name"_a = "", ka)
      .def("add", [](M &m, T a, T b, S n) { return checked(m, m.add(a, b, n)); },
           "a"_a, "b"_a, "name"_a = "", ka)
      .def("sub", [](M &m, T a, T b, S n) { return checked(m, m.sub(a, b, n)); },
           "a"_a, "b"_a, "name"_a = "", ka)
      .def("mul", [](M &m, T a, T b, S n) { return checked(m, m.mul(a, b, n)); },
           "a"_a, "b"_a, "name"_a = "", ka)
      .def("div", [](M &m, T a, T b, S n) { return checked(m, m.div(a, b, n)); },
           "a"_a, "b"_a, "name"_a = "", ka)
      .def("relu", [](M &m, T x, S n) { return checked(m, m.relu(x, n)); }, "x"_a, "name"_a = "", ka)
      .def("tanh", [](M &m, T x, S n) { return checked(m, m.tanh(x, n)); }, "x"_a, "name"_a = "", ka)
      .def("sigmoid", [](M &m, T x, S n) { return checked(m, m.sigmoid(x, n)); }, "x"_a,
           "name"_a = "", ka)
      .def("gelu", [](M &m, T x, S a, S n) { return checked(m, m.gelu(x, a, n)); }, "x"_a,
           "approximate"_a = "none", "name"_a = "", ka)
      .def("softmax", [](M &m, T x, int64_t axis, S n) { return checked(m, m.softmax(x, axis, n)); },
           "x"_a, "axis"_a = -1, "name"_a = "", ka)
      .def("log_softmax", [](M &m, T x, int64_t axis, S n) {
             return checked(m, m.logSoftmax(x, axis, n)); },
           "x"_a, "axis"_a = -1, "name"_a = "", ka)
      .def("dropout", [](M &m, T x, double rate, S n) { return checked(m, m.dropout(x, rate, n)); },
           "x"_a, "rate"_a, "name"_a = "", ka)
      .def("reshape", [](M &m, T x, const fe::Shape &s, S n) { return checked(m, m.reshape(x, s, n)); },
           "x"_a, "shape"_a, "name"_a = "", ka)
      .def("transpose", [](M &m, T x, const std::vector<int64_t> &p, S n) {
             return checked(m, m.transpose(x, p, n)); },
           "x"_a, "permutation"_a, "name"_a = "", ka)
      .def("concat", [](M &m, const std::vector<T> &xs, int64_t axis, S n) {
             return checked(m, m.concat(xs, axis, n)); },
           "xs"_a, "axis"_a, "name"_a = "", ka)
      .def("reduce_sum", [](M &m, T x, const std::vector<int64_t> &axes, bool keep, S n) {
             return checked(m, m.reduceSum(x, axes, keep, n)); },
           "x"_a, "axes"_a, "keepdim"_a = false, "name"_a = "", ka)
      .def("reduce_mean", [](M &m, T x, const std::vector<int64_t> &axes, bool keep, S n) {
             return checked(m, m.reduceMean(x, axes, keep, n)); },
           "x"_a, "axes"_a, "keepdim"_a = false, "name"_a = "", ka)
      .def("reduce_max", [](M &m, T x, const std::vector<int64_t> &axes, bool keep, S n) {
             return checked(m, m.reduceMax(x, axes, keep, n)); },
           "x"_a, "axes"_a, "keepdim"_a = false, "name"_a = "", ka)
      .def("cross_entropy", [](M &m, T logits, T target, double smoothing, S reduction, S n) {
             return checked(m, m.crossEntropy(logits, target, smoothing, reduction, n)); },
           "logits"_a, "target"_a, "label_smoothing"_a = 0.0, "reduction"_a = "mean",
           "name"_a = "", ka)
      .def("mse_loss", [](M &m, T p, T t, S n) { return checked(m, m.mseLoss(p, t, n)); },
           "pred"_a, "target"_a, "name"_a = "", ka)
      .def("set_loss", [](M &m, T loss) { m.setLoss(loss); checked(m, loss); }, "loss"_a)
      .def("add_output", [](M &m, T out) { m.addOutput(out); checked(m, out); }, "output"_a)
      .def("training", [](M &m, const py::kwargs &spec) { setFields(m.training(), spec); },
           "Sets TrainingSpec fields (model.proto): optimizer={'kind': 'adamw', ...}, epochs=10")
      .def_property_readonly("name", [](const M &m) { return m.proto().name(); })
      .def_property_readonly("ok", &M::ok)
      .def_property_readonly("error", &M::error)
      .def("summary", &M::summary)
      .def("parameter_count", &M::parameterCount)
      .def("save", [](const M &m, S path) { check(m.save(path)); }, "path"_a);

  // Layers keep their Model alive (keep_alive<1, 2>) and check their input when called.
  py::module_ layers = m.def_submodule("layers", "PyTorch-style layers (frontend/Layers.h)");
  auto ctor = py::keep_alive<1, 2>();
  py::class_<fe::Layer>(layers, "Layer")
      .def_property_readonly("name", &fe::Layer::name)
      .def_property_readonly("kind", &fe::Layer::kind);
  auto call = [](auto &layer, T x) { return checked(layer(x), x); };
  py::class_<fe::Linear, fe::Layer>(layers, "Linear")
      .def(py::init<M &, S, int64_t, int64_t, bool>(), "model"_a, "name"_a, "in_features"_a,
           "out_features"_a, "bias"_a = true, ctor)
      .def("__call__", [call](fe::Linear &l, T x) { return call(l, x); }, "x"_a, ka)
      .def_property_readonly("weight", &fe::Linear::weight)
      .def_property_readonly("bias", &fe::Linear::bias);
  py::class_<fe::Conv2d, fe::Layer>(layers, "Conv2d")
      .def(py::init<M &, S, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>(),
           "model"_a, "name"_a, "in_channels"_a, "out_channels"_a, "kernel_size"_a,
           "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1, "bias"_a = true, ctor)
      .def("__call__", [call](fe::Conv2d &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::MaxPool2d, fe::Layer>(layers, "MaxPool2d")
      .def(py::init<M &, S, int64_t, std::optional<int64_t>, int64_t>(), "model"_a, "name"_a,
           "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, ctor)
      .def("__call__", [call](fe::MaxPool2d &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::AvgPool2d, fe::Layer>(layers, "AvgPool2d")
      .def(py::init<M &, S, int64_t, std::optional<int64_t>, int64_t>(), "model"_a, "name"_a,
           "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, ctor)
      .def("__call__", [call](fe::AvgPool2d &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::Dropout, fe::Layer>(layers, "Dropout")
      .def(py::init<M &, S, double>(), "model"_a, "name"_a, "rate"_a, ctor)
      .def("__call__", [call](fe::Dropout &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::LayerNorm, fe::Layer>(layers, "LayerNorm")
      .def(py::init<M &, S, int64_t, double>(), "model"_a, "name"_a, "dim"_a,
           "epsilon"_a = 1e-5, ctor)
      .def("__call__", [call](fe::LayerNorm &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::Embedding, fe::Layer>(layers, "Embedding")
      .def(py::init<M &, S, int64_t, int64_t>(), "model"_a, "name"_a, "num"_a, "dim"_a, ctor)
      .def("__call__", [call](fe::Embedding &l, T x) { return call(l, x); }, "indices"_a, ka);
  py::class_<fe::CausalSelfAttention, fe::Layer>(layers, "CausalSelfAttention")
      .def(py::init<M &, S, int64_t, int64_t>(), "model"_a, "name"_a, "d_model"_a, "heads"_a, ctor)
      .def("__call__", [call](fe::CausalSelfAttention &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::ReLU, fe::Layer>(layers, "ReLU")
      .def(py::init<M &, S>(), "model"_a, "name"_a, ctor)
      .def("__call__", [call](fe::ReLU &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::Tanh, fe::Layer>(layers, "Tanh")
      .def(py::init<M &, S>(), "model"_a, "name"_a, ctor)
      .def("__call__", [call](fe::Tanh &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::GELU, fe::Layer>(layers, "GELU")
      .def(py::init<M &, S, std::string>(), "model"_a, "name"_a, "approximate"_a = "none", ctor)
      .def("__call__", [call](fe::GELU &l, T x) { return call(l, x); }, "x"_a, ka);
  py::class_<fe::Flatten, fe::Layer>(layers, "Flatten")
      .def(py::init<M &, S>(), "model"_a, "name"_a, ctor)
      .def("__call__", [call](fe::Flatten &l, T x) { return call(l, x); }, "x"_a, ka);

  m.def("import_model", &importModel, "path"_a, "batch_size"_a = py::none(), "loss"_a = "",
        "label_smoothing"_a = py::none());
  m.def("write_model", &writeModel, "source"_a, "path"_a, "spec"_a);
  m.def("compile_file", &compileFile, "input"_a, "output"_a, "target"_a);

  py::class_<Plan>(m, "Plan")
      .def(py::init<py::bytes, std::string, std::string>(), "bytes"_a, "name"_a = "plan",
           "device"_a = "cpu")
      .def("bytes", &Plan::bytes)
      .def_property_readonly("name", &Plan::name)
      .def("predict", &Plan::predict, "x"_a)
      .def("parameters", &Plan::parameters)
      .def("load_parameters", &Plan::loadParameters, "values"_a)
      .def("save_checkpoint", &Plan::saveCheckpoint, "path"_a)
      .def("load_checkpoint", &Plan::loadCheckpoint, "path"_a)
      .def("_export_onnx", &Plan::exportOnnx, "path"_a)
      .def("_fit", &Plan::fit, "source"_a, "options"_a, "callbacks"_a);
}
