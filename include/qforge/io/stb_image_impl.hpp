// qforge/io/stb_image_impl.hpp — stb_image compiled into the including translation unit as static functions, so
// qforge stays header-only and never clashes with an application's own stb_image. Only the formats image folders
// accept are compiled in (less code that reads hostile bytes); gzip datasets use io/inflate.hpp, not stb.
#pragma once
#ifndef QFORGE_STB_IMAGE_INCLUDED
#define QFORGE_STB_IMAGE_INCLUDED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"  // false positives in stb's row filters at -O3
#endif
#endif
// stb_image 2.27 calls memcpy(NULL, p, 0) for an empty PNG IDAT chunk: harmless, but UBSan's nonnull-attribute
// check aborts sanitizer builds on it, so that one check is off inside stb (clang; found by tests/fuzz).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("nonnull-attribute"))), apply_to = function)
#endif
#include <stb_image.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif
