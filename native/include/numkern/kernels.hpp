// Transitional: the declarations that lived here before the per-family split, for the files that still
// include it (native/src/relax.cc, native/test/native_test.cc). New code includes the header of what it
// uses: parallel.hpp (threads), core.hpp (build facts, Philox, probes), <family>.hpp (a family's
// kernels). This header never grows a family; once nothing includes it, it goes.
#pragma once

#include "numkern/core.hpp"
#include "numkern/linalg.hpp"
#include "numkern/parallel.hpp"
