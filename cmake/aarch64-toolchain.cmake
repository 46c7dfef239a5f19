# cmake/aarch64-toolchain.cmake — cross-compile qforge for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu,
# tests run under qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR, so ctest works unchanged).
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake
#   QEMU_CPU=max ctest --test-dir build-aarch64          (QEMU_CPU=cortex-a53: a core without dotprod)
#
# Libraries come from the cross sysroot /usr/aarch64-linux-gnu only. The header-only third-party libraries
# (doctest, xsimd, stb) live in the host's /usr/include; adding /usr/include itself would put the host's glibc
# headers in front of the sysroot's, so only those three directories are exposed, through symlinks in
# <build>/host-headers (nothing is copied) passed with -isystem.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/aarch64-linux-gnu)

set(QFORGE_HOST_HEADERS ${CMAKE_BINARY_DIR}/host-headers)
file(MAKE_DIRECTORY ${QFORGE_HOST_HEADERS})
foreach(dir doctest xsimd stb)
  if(EXISTS /usr/include/${dir} AND NOT EXISTS ${QFORGE_HOST_HEADERS}/${dir})
    file(CREATE_LINK /usr/include/${dir} ${QFORGE_HOST_HEADERS}/${dir} SYMBOLIC)
  endif()
endforeach()
set(CMAKE_CXX_FLAGS_INIT "-isystem ${QFORGE_HOST_HEADERS}")
set(DOCTEST_INCLUDE_DIR ${QFORGE_HOST_HEADERS} CACHE PATH "doctest headers (host, header-only)")
if(EXISTS /usr/include/xsimd/xsimd.hpp)
  set(QFORGE_XSIMD_INCLUDE_DIR ${QFORGE_HOST_HEADERS} CACHE PATH "xsimd headers (host, header-only)")
endif()
if(EXISTS /usr/include/stb/stb_image.h)
  set(QFORGE_STB_INCLUDE_DIR ${QFORGE_HOST_HEADERS}/stb CACHE PATH "stb headers (host, header-only)")
endif()
