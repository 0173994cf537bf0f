// Sparse kernels (issue 20): filled in by the next commit.
#include "common.h"

namespace cyclesparse {

void RegisterSparse(napi_env, napi_value) {}

}  // namespace cyclesparse
