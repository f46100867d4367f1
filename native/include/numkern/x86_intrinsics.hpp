// <immintrin.h> for the kernels with explicit AVX-512 loops (x86-64 builds with target clones only).
// GCC 12 warns, wrongly, that the _mm512_undefined_ps() in the unmasked forms of vmaxps, vminps and
// vrndscaleps may be uninitialized (GCC bug 105593, fixed in 13); the warning points into the header,
// so it is silenced around the include.
#pragma once

#include "numkern/common.hpp"

#if NK_HAVE_CLONES
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
