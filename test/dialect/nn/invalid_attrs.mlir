// One case per message of the training spec's verifier and of the dialect's checks on the
// discardable `nn.*` attributes (NNAttrs.cpp), plus the parser's own refusals of a misspelled
// field or kind.
// RUN: %nnc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{training spec expects a loss: the scalar tensor to minimize}}
module attributes {nn.training = #nn.training<loss = "">} {
}

// -----

// expected-error @+1 {{training spec expects accumulation_steps >= 0, got -2}}
module attributes {nn.training = #nn.training<loss = "l", accumulation_steps = -2>} {
}

// -----

// expected-error @+1 {{training spec expects beta2 in [0, 1), got 1}}
module attributes {nn.training = #nn.training<loss = "l", optimizer = adam, beta2 = 1.0 : f64>} {
}

// -----

// expected-error @+1 {{training spec expects learning_rate in [0, inf), got -0.1}}
module attributes {nn.training = #nn.training<loss = "l", learning_rate = -0.1 : f64>} {
}

// -----

// expected-error @+1 {{training spec expects fp32_ops to be a list of strings, got [1]}}
module attributes {nn.training = #nn.training<loss = "l", fp32_ops = [1]>} {
}

// -----

// A misspelled optimizer is a parse error, not a model without a train step.
// expected-error @+2 {{expected ::nnc::nn::OptimizerKind to be one of: none, sgd, adam, adamw}}
// expected-error @+1 {{failed to parse NN_TrainingSpecAttr parameter 'optimizer'}}
module attributes {nn.training = #nn.training<loss = "l", optimizer = adamm>} {
}

// -----

// A misspelled field too.
// expected-error @+1 {{}}
module attributes {nn.training = #nn.training<loss = "l", learning_rat = 0.1 : f64>} {
}

// -----

// A field of the wrong kind.
// expected-error @+1 {{}}
module attributes {nn.training = #nn.training<loss = "l", learning_rate = "fast">} {
}

// -----

// The spec as a plain dictionary (the form before it was typed) is refused.
// expected-error @+1 {{'builtin.module' op expects 'nn.training' to be a #nn.training spec, got {loss = "l"}}}
module attributes {nn.training = {loss = "l"}} {
}

// -----

// expected-error @+1 {{'func.func' op expects 'nn.training' on a module only}}
func.func @spec_on_function() attributes {nn.training = #nn.training<loss = "l">} {
  return
}

// -----

// expected-error @+1 {{'func.func' op has unknown attribute 'nn.trainng'}}
func.func @misspelled_op_attr() attributes {nn.trainng = 1 : i64} {
  return
}

// -----

// expected-error @+1 {{'func.func' op has unknown argument attribute 'nn.parm'}}
func.func @misspelled_arg_attr(%w: tensor<2xf32> {nn.parm = "w"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expects argument attribute 'nn.param' to be a string, got 3 : i64}}
func.func @param_not_string(%w: tensor<2xf32> {nn.param = 3 : i64}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expects argument attribute 'nn.trainable' to be a bool, got "no"}}
func.func @trainable_not_bool(%w: tensor<2xf32> {nn.param = "w", nn.trainable = "no"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expects argument attribute 'nn.init' to be a dictionary, got "zeros"}}
func.func @init_not_dict(%w: tensor<2xf32> {nn.param = "w", nn.init = "zeros"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expects argument attribute 'nn.index_limit' to be an integer, got "10"}}
func.func @limit_not_int(%y: tensor<2xi64> {nn.input = "y", nn.index_limit = "10"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op has unknown result attribute 'nn.update'}}
func.func @misspelled_result_attr(%w: tensor<2xf32>) -> (tensor<2xf32> {nn.update = "w"}) {
  return %w : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expects result attribute 'nn.output' to be a string, got unit}}
func.func @output_not_string(%w: tensor<2xf32>) -> (tensor<2xf32> {nn.output}) {
  return %w : tensor<2xf32>
}
