// A fixed-size array for the big hash tables a worker probes at random (flow-table shards, the
// meter's flow cache): anonymous memory asked to be backed by transparent huge pages
// (MADV_HUGEPAGE; this honours `madvise` mode, the Debian default). A random probe into a table of
// several MiB on 4 KiB pages costs a TLB miss nearly every time, and on a VM that miss walks two
// levels of page tables; on 2 MiB pages the table fits the TLB. Where the kernel gives no huge page
// it is ordinary memory, as is an array smaller than one huge page. Elements start as all-zero bytes
// (fresh anonymous memory), so T's empty state must be all zeros: the constructor checks that.
//
// The memory is committed when the array is made, not when a worker first writes it: a first write
// is a page fault on the hot path, and on this project's VM the first write to a huge page took a
// worker off its capture ring for ~5 ms (its host backs guest memory as it is first touched), longer
// than a 2,048-frame AF_XDP ring lasts at 0.8 M packets/s.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace flowpulse::core {

template <typename T>
class HugeArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  HugeArray() = default;
  // The bytes an array of `n` elements maps (and commits).
  static std::size_t bytes_for(std::size_t n) noexcept {
    const std::size_t wanted = n * sizeof(T);
    return wanted < huge_page ? wanted : (wanted + huge_page - 1) / huge_page * huge_page;
  }
  explicit HugeArray(std::size_t n) : size_(n) {
    const T empty{};
    static const unsigned char zeros[sizeof(T)] = {};
    if (std::memcmp(&empty, zeros, sizeof(T)) != 0)
      throw std::invalid_argument("HugeArray: the element type's empty state is not all zero bytes");
    if (n == 0) return;
    const std::size_t wanted = n * sizeof(T);
    if (wanted < huge_page) {  // smaller than one huge page: ordinary pages
      void* p = ::mmap(nullptr, wanted, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      if (!commit(p, wanted)) {
        ::munmap(p, wanted);
        throw std::bad_alloc();
      }
      data_ = static_cast<T*>(p);
      bytes_ = wanted;
      return;
    }
    // Map one huge page more than needed and keep the aligned part: only 2 MiB-aligned ranges can
    // be huge pages.
    const std::size_t bytes = bytes_for(n);
    void* p = ::mmap(nullptr, bytes + huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* raw = static_cast<std::uint8_t*>(p);
    const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(raw);
    auto* aligned = reinterpret_cast<std::uint8_t*>((addr + huge_page - 1) & ~(huge_page - 1));
    if (aligned != raw) ::munmap(raw, static_cast<std::size_t>(aligned - raw));
    const std::size_t tail = static_cast<std::size_t>(raw + bytes + huge_page - (aligned + bytes));
    if (tail != 0) ::munmap(aligned + bytes, tail);
    (void)::madvise(aligned, bytes, MADV_HUGEPAGE);  // advice only: without THP these stay 4 KiB pages
    if (!commit(aligned, bytes)) {
      ::munmap(aligned, bytes);
      throw std::bad_alloc();
    }
    data_ = reinterpret_cast<T*>(aligned);
    bytes_ = bytes;
  }
  ~HugeArray() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
  }
  HugeArray(HugeArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  HugeArray& operator=(HugeArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T* data() noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  // Faults every page in now (writable, as huge pages where the advice above got them): with
  // MADV_POPULATE_WRITE (Linux 5.14), else (a kernel without it) by writing a zero into each 4 KiB
  // page. False when the kernel could not find the memory.
  static bool commit(void* p, std::size_t bytes) noexcept {
    constexpr int populate_write = 23;  // MADV_POPULATE_WRITE, which older headers lack
    if (::madvise(p, bytes, populate_write) == 0) return true;
    if (errno != EINVAL) return false;
    auto* b = static_cast<volatile std::uint8_t*>(p);
    for (std::size_t at = 0; at < bytes; at += 4096) b[at] = 0;
    return true;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace flowpulse::core
