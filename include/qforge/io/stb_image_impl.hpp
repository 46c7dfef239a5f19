// qforge/io/stb_image_impl.hpp — stb_image compiled into the including translation unit as static functions, so
// qforge stays header-only and never clashes with an application's own stb_image. Used for image decoding and
// for stb's zlib inflater (gzip datasets).
#pragma once
#ifndef QFORGE_STB_IMAGE_INCLUDED
#define QFORGE_STB_IMAGE_INCLUDED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif
