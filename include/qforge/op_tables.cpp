// qforge/op_tables.cpp — compiles, once, what every file that runs a graph would otherwise compile again: the
// fp32 op tables (every op kernel). Its sibling op_tables_int8.cpp does the same for the int8 executor's kernel
// entry points (every ISA); two files so that they compile in parallel. For projects that define
// QFORGE_PRECOMPILED_OPS (see graph/ops/registry.hpp); header-only users never compile these files.
// CMake: target qforge::ops.
#define QFORGE_OP_TABLES_IMPLEMENTATION
#include "qforge/graph/ops/registry.hpp"
#include "qforge/quant/float_ops.hpp"
