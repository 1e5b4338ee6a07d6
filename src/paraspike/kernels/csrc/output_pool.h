// Reused memory for the fused kernel's large [T, M] outputs (spikes, H, dx).
//
// Why: glibc hands large freed blocks back to the kernel, so the outputs of a layer's next call are
// often fresh memory whose every 4 KiB page faults on first write and is zeroed by the kernel, and
// two threads writing a strided [T, M] layout fault on many pages at once. Measured on the project's
// 2-core VM: the same [2, 128, 4096] forward 0.47 ms without faults, 5.3 ms with 1,087 faults per call;
// whether a call faults depends on the allocator's state, so timings swung run to run. A training loop
// allocates the same output sizes every step, so the blocks freed at the end of one step serve the next.
//
// What: outputs of at least kMinBytes (256 KiB) come from the pool: from 2 MiB up, 2 MiB-aligned blocks
// (advised for transparent huge pages, so the first use faults once per 2 MiB where the system allows)
// sized up to a multiple of 2 MiB; below that, page-aligned blocks sized up to a multiple of 64 KiB.
// (At T = 1 a [16, 128, 16, 16] layer's outputs are 2 MiB each: with a 4 MiB threshold its forward,
// one thread, spent 2.2-4.2 ms per call, mostly in page faults; the arithmetic takes ~0.5 ms.)
// A tensor's deleter returns its block to a free list keyed by that size; the next request of the
// same size takes it back, already mapped. The free list holds at most the configured bytes
// (PARASPIKE_OUTPUT_CACHE_MB, default 1024; 0 turns the pool off and outputs come from at::empty);
// blocks that do not fit are freed at once, and paraspike::release_cpu_output_cache() (Python:
// paraspike.kernels.cpu.release_output_cache) frees the rest.
// The pool lives for the whole process (never destroyed: tensors may outlive static destructors).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/strides.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace paraspike {

class OutputPool {
 public:
  static constexpr int64_t kMinBytes = int64_t{256} << 10;
  static constexpr int64_t kHugeAlign = int64_t{2} << 20;  // blocks from this size up: huge pages
  static constexpr int64_t kSmallGranule = int64_t{64} << 10, kPage = int64_t{4} << 10;

  static OutputPool& instance() {
    static OutputPool* pool = new OutputPool();  // never destroyed: see the header comment
    return *pool;
  }

  // A contiguous tensor of `sizes`; from the pool when it is on and the tensor is large enough.
  at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
    const int64_t bytes = c10::multiply_integers(sizes) *
                          static_cast<int64_t>(c10::elementSize(c10::typeMetaToScalarType(options.dtype())));
    if (limit_ == 0 || bytes < kMinBytes) return at::empty(sizes, options);
    const bool huge = bytes >= kHugeAlign;
    const int64_t granule = huge ? kHugeAlign : kSmallGranule;
    const int64_t size = (bytes + granule - 1) / granule * granule;
    void* block = take(size);
    if (block == nullptr) {
      block = std::aligned_alloc(static_cast<size_t>(huge ? kHugeAlign : kPage), static_cast<size_t>(size));
      if (block == nullptr) return at::empty(sizes, options);  // let PyTorch report the shortage
#ifdef __linux__
      if (huge) madvise(block, static_cast<size_t>(size), MADV_HUGEPAGE);
#endif
    }
    // A resizable storage (like at::empty's): growing it reallocates with PyTorch's CPU allocator and
    // hands this block back through the deleter.
    c10::DataPtr data(block, new Held{block, size}, &OutputPool::on_free, at::Device(at::kCPU));
    c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data), c10::GetCPUAllocator(), true);
    return at::empty({0}, options).set_(storage, 0, sizes, c10::contiguous_strides(sizes));
  }

  // {bytes held in the free list, requests served from it, requests that allocated, blocks freed
  // because the free list was full}
  std::vector<int64_t> stats() {
    std::lock_guard<std::mutex> guard(mutex_);
    return {held_, hits_, misses_, dropped_};
  }

  // Frees every block in the free list (blocks still in use return to it later, or are freed when
  // it is full).
  void release() {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto& entry : free_) std::free(entry.second);
    free_.clear();
    held_ = 0;
  }

 private:
  OutputPool() {
    const char* setting = std::getenv("PARASPIKE_OUTPUT_CACHE_MB");
    const int64_t mebibytes = setting != nullptr && *setting != '\0' ? std::atoll(setting) : 1024;
    limit_ = mebibytes > 0 ? mebibytes << 20 : 0;
  }

  struct Held {  // what a pooled tensor's deleter needs
    void* block;
    int64_t size;
  };
  static void on_free(void* context) {
    const Held* held = static_cast<const Held*>(context);
    instance().give_back(held->block, held->size);
    delete held;
  }

  void* take(int64_t size) {
    std::lock_guard<std::mutex> guard(mutex_);
    const auto found = free_.find(size);
    if (found == free_.end()) {
      ++misses_;
      return nullptr;
    }
    void* block = found->second;
    free_.erase(found);
    held_ -= size;
    ++hits_;
    return block;
  }

  void give_back(void* block, int64_t size) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (held_ + size <= limit_) {
        free_.emplace(size, block);
        held_ += size;
        return;
      }
      ++dropped_;
    }
    std::free(block);
  }

  std::mutex mutex_;
  std::unordered_multimap<int64_t, void*> free_;  // block size -> blocks
  int64_t limit_ = 0, held_ = 0, hits_ = 0, misses_ = 0, dropped_ = 0;
};

}  // namespace paraspike
