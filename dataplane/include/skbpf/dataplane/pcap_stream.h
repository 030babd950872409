// Streaming pcap/pcapng input and output through libpcap, one record at a
// time (constant memory for any capture size): what `skbpf replay` reads
// and writes. Like pcap_io.h, this header keeps <pcap/pcap.h> out (its
// `struct bpf_insn` clashes with <linux/bpf.h>).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace skbpf::dataplane {

// One record as read: `data` points into the reader's buffer and is valid
// until the next call to next().
struct PcapRecord {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;  // bytes captured (in `data`)
  uint32_t len = 0;     // length on the wire
  int64_t sec = 0;
  uint32_t nsec = 0;  // nanoseconds, whatever the file's precision
};

// Reads an Ethernet (DLT_EN10MB) capture: classic pcap with microsecond or
// nanosecond timestamps, or pcapng (libpcap reads both).
class PcapReader {
 public:
  // Throws std::runtime_error naming the file: cannot open, not a capture,
  // not Ethernet.
  explicit PcapReader(const std::string& path);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // The next record; false at the end. A truncated or malformed record
  // throws std::runtime_error "FILE: record N (1-based): libpcap's reason".
  bool next(PcapRecord& rec);

  const std::string& path() const { return path_; }
  uint64_t records() const { return records_; }  // read so far
  // Whether the file stores nanosecond timestamps (a pcap with the
  // nanosecond magic, or any pcapng: its resolution is per interface).
  bool nanosecond() const { return nano_; }
  // Bytes of the file consumed so far and its size (for progress).
  uint64_t offset() const;
  uint64_t size() const { return size_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  uint64_t records_ = 0;
  uint64_t size_ = 0;
  bool nano_ = false;
};

// Writes an Ethernet capture under a temporary name in the same directory;
// commit() renames it into place. Destroyed without commit() (an error
// elsewhere), the temporary file is removed: a failed run never leaves a
// half-written capture under the final name.
class PcapWriter {
 public:
  // Throws std::runtime_error naming the file.
  PcapWriter(const std::string& path, bool nanosecond);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(const uint8_t* data, uint32_t caplen, uint32_t len, int64_t sec, uint32_t nsec);
  // Flushes, closes and renames; throws std::runtime_error on any I/O error.
  void commit();
  uint64_t frames() const { return frames_; }
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, tmp_;
  uint64_t frames_ = 0;
  bool nano_ = false;
};

}  // namespace skbpf::dataplane
