// One SGD update of one parameter in one pass (engine/sgd.ts's MaskedSgd uses it where it is
// registered): on LeNet-300-100 the update's ten TF.js kernels per parameter took a third of a
// dense step, and more of a sparse one.
//
// The arithmetic is MaskedSgd's, operation for operation in float32 (PyTorch's SGD, dampening 0):
//   g ← ∇·mask;  g ← g + λ·w;  b ← μ·b + g;  d ← g + μ·b (Nesterov) or b;  w ← w − lr·d
// with no fused multiply-add, so the result is bit for bit the TF.js kernels' (tested).

#include <omp.h>

#include <cstdint>

#include "common.h"

namespace cyclesparse {
namespace {

struct SgdStep {
  float lr, mu, decay;
  bool nesterov, momentum, weight_decay;
};

// Every product is rounded to float before the sum that uses it, as separate kernels round.
__attribute__((optimize("fp-contract=off"))) void Update(const SgdStep& s, int64_t n, const float* param,
                                                         const float* grad, const float* mask, const float* buffer,
                                                         float* param_out, float* buffer_out) {
#ifdef __clang__  // clang ignores GCC's optimize attribute and contracts within an expression
#pragma clang fp contract(off)
#endif
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    float g = mask == nullptr ? grad[i] : grad[i] * mask[i];
    if (s.weight_decay) g = g + param[i] * s.decay;
    float direction = g;
    if (s.momentum) {
      const float next = buffer[i] * s.mu + g;
      buffer_out[i] = next;
      direction = s.nesterov ? g + next * s.mu : next;
    }
    param_out[i] = param[i] - direction * s.lr;
  }
}

// sgdStep(memory, param, grad, mask (−1: none), buffer (−1: no momentum), paramOut, bufferOut
// (−1: none), n, lr, momentum, weightDecay, nesterov)
napi_value SgdStepEntry(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 12);
    size_t length = 0;
    float* memory = args.Floats(0, &length);
    const int64_t param = args.Int(1), grad = args.Int(2), mask = args.Int(3), buffer = args.Int(4),
                  param_out = args.Int(5), buffer_out = args.Int(6), n = args.Int(7);
    const SgdStep s{float(args.Double(8)), float(args.Double(9)), float(args.Double(10)), args.Bool(11),
                    args.Double(9) != 0, args.Double(10) != 0};
    if (n < 0) throw Error{"sgdStep: bad size"};
    if (s.momentum != (buffer != -1) || (buffer == -1) != (buffer_out == -1))
      throw Error{"sgdStep: a momentum buffer and its output are given exactly when momentum is not 0"};
    for (int64_t o : {param, grad, param_out}) RequireRange("sgdStep", o, n, length);
    if (mask != -1) RequireRange("sgdStep mask", mask, n, length);
    if (buffer != -1) RequireRange("sgdStep buffer", buffer, n, length), RequireRange("sgdStep buffer", buffer_out, n, length);
    Update(s, n, memory + param, memory + grad, mask == -1 ? nullptr : memory + mask,
           buffer == -1 ? nullptr : memory + buffer, memory + param_out, buffer_out == -1 ? nullptr : memory + buffer_out);
  } catch (const Error& e) {
    return Throw(env, e.message);
  }
  return nullptr;
}

}  // namespace

void RegisterOptimizer(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"sgdStep", nullptr, SgdStepEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
}

}  // namespace cyclesparse
