// Shared by the native kernel files: errors thrown to JavaScript, argument reading, and the
// bounds check every entry point makes on what it touches in the wasm memory.
#pragma once

#include <node_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cyclesparse {

struct Error {
  std::string message;
};

inline napi_value Throw(napi_env env, const std::string& message) {
  napi_throw_error(env, "ERR_CYCLESPARSE_NATIVE", message.c_str());
  return nullptr;
}

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected) : env_(env) {
    size_t count = 32;
    napi_value values[32];
    napi_get_cb_info(env, info, &count, values, nullptr, nullptr);
    if (count != expected) throw Error{"expected " + std::to_string(expected) + " arguments, got " + std::to_string(count)};
    values_.assign(values, values + count);
  }
  // The float view of an ArrayBuffer (argument 0 by convention).
  float* Floats(size_t index, size_t* length) {
    void* data = nullptr;
    size_t bytes = 0;
    bool is_buffer = false;
    napi_is_arraybuffer(env_, values_[index], &is_buffer);
    if (!is_buffer) throw Error{"argument " + std::to_string(index) + ": expected an ArrayBuffer"};
    napi_get_arraybuffer_info(env_, values_[index], &data, &bytes);
    *length = bytes / sizeof(float);
    return static_cast<float*>(data);
  }
  int64_t Int(size_t index) {
    int64_t value = 0;
    if (napi_get_value_int64(env_, values_[index], &value) != napi_ok)
      throw Error{"argument " + std::to_string(index) + ": expected an integer"};
    return value;
  }
  bool Bool(size_t index) {
    bool value = false;
    if (napi_get_value_bool(env_, values_[index], &value) != napi_ok)
      throw Error{"argument " + std::to_string(index) + ": expected a boolean"};
    return value;
  }
  double Double(size_t index) {
    double value = 0;
    if (napi_get_value_double(env_, values_[index], &value) != napi_ok)
      throw Error{"argument " + std::to_string(index) + ": expected a number"};
    return value;
  }

 private:
  napi_env env_;
  std::vector<napi_value> values_;
};

inline void RequireRange(const char* what, int64_t offset, int64_t count, size_t length) {
  if (offset < 0 || count < 0 || size_t(offset) + size_t(count) > length)
    throw Error{std::string(what) + ": [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                ") is outside the memory of " + std::to_string(length) + " floats"};
}

// Registers the sparse kernels (native/sparse.cc) on the module's exports.
void RegisterSparse(napi_env env, napi_value exports);
// Registers the optimizer kernel (native/optimizer.cc) on the module's exports.
void RegisterOptimizer(napi_env env, napi_value exports);

}  // namespace cyclesparse
