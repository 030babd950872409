// Offset-addressed storage. A map keeps all its state (elements, links,
// free lists, locks) in one arena and links elements by offsets or indices,
// never raw pointers, so that the same arena can be mapped from a file
// (pinned maps, pin.h) by later processes at different addresses.
#pragma once

#include <cstddef>
#include <cstdint>

namespace skbpf::maps {

class Arena {
 public:
  Arena() = default;
  // Anonymous, zero-filled, page-aligned memory of at least `size` bytes.
  // Throws std::bad_alloc when the system refuses it.
  static Arena anonymous(size_t size);
  // `size` bytes of the file `fd` from `offset` (page-aligned), mapped
  // shared, so stores reach the file (a pinned map). The arena owns `fd`
  // and closes it when destroyed (which drops the flock a pinned map holds
  // on it). Throws std::system_error when mmap fails.
  static Arena shared_file(int fd, uint64_t offset, size_t size);
  ~Arena();
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  int fd() const { return fd_; }  // the backing file, or -1 for anonymous memory
  template <typename T>
  T* at(uint64_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  uint64_t offset_of(const void* p) const {
    return static_cast<uint64_t>(static_cast<const uint8_t*>(p) - base_);
  }
  bool contains(const void* p, size_t len) const {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    return b >= base_ && len <= size_ && static_cast<size_t>(b - base_) <= size_ - len;
  }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
};

// Lays out regions inside an arena before it is allocated:
//   ArenaLayout l; auto hdr = l.reserve(sizeof(Header)); auto elems = l.reserve(n * sz, 64);
//   Arena a = Arena::anonymous(l.size());
class ArenaLayout {
 public:
  uint64_t reserve(size_t bytes, size_t align = 8) {
    size_ = (size_ + align - 1) / align * align;
    const uint64_t at = size_;
    size_ += bytes;
    return at;
  }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

}  // namespace skbpf::maps
