// warm_heap (core.hpp): pre-faulted C-heap pages for the first solves of a process.
#include <cstdlib>

#include "numkern/core.hpp"

namespace numkern {

namespace {
constexpr size_t kPage = 4096;
/// The first block is this much larger than the touched one, so that the touched one falls below the
/// threshold the first block's free sets (glibc compares the chunk size, header included).
constexpr size_t kSlack = 64 * 1024;
}  // namespace

size_t warm_heap(size_t bytes) {
  if (bytes == 0) return 0;
  // A block this large is mapped on its own (glibc: above M_MMAP_THRESHOLD, 128 KiB at start), and
  // freeing it raises glibc's dynamic thresholds to its size (mmap) and twice that (trim). Untouched, it
  // costs two system calls and no fault.
  void* big = std::malloc(bytes + kSlack);
  asm volatile("" : : "r"(big) : "memory");  // keep the pair: its free is what moves the thresholds
  std::free(big);
  // Now a block a little smaller comes from the main heap, and once touched and freed its pages stay
  // there (below the trim threshold) for the next allocations of the calling thread's arena.
  auto* p = static_cast<volatile char*>(std::malloc(bytes));
  if (p == nullptr) return 0;
  for (size_t i = 0; i < bytes; i += kPage) p[i] = 0;
  std::free(const_cast<char*>(p));
  return bytes;
}

}  // namespace numkern
