// qforge/op_tables_int8.cpp — the int8 executor's kernel entry points (QKernels: packing, conv and GEMM for every
// ISA and activation/output type), compiled once for projects that define QFORGE_PRECOMPILED_OPS. See
// op_tables.cpp. CMake: target qforge::ops.
#define QFORGE_QKERNELS_IMPLEMENTATION
#include "qforge/quant/qexecutor.hpp"
