// qforge/op_tables.cpp — compiles, once, what every file that runs a graph would otherwise compile again: the
// fp32 op tables (every op kernel) and the int8 executor's kernel entry points (every ISA). For projects that
// define QFORGE_PRECOMPILED_OPS (see graph/ops/registry.hpp); header-only users never compile this file.
// CMake: target qforge::ops.
#define QFORGE_OP_TABLES_IMPLEMENTATION
#include "qforge/graph/ops/registry.hpp"
#include "qforge/quant/float_ops.hpp"
#include "qforge/quant/qexecutor.hpp"
