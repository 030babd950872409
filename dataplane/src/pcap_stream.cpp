// Streaming capture I/O (see pcap_stream.h). libpcap's translation unit.
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "skbpf/dataplane/pcap_stream.h"

namespace skbpf::dataplane {

struct PcapReader::Impl {
  pcap_t* p = nullptr;
};

PcapReader::PcapReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  // The magic number says the file's own resolution (libpcap converts to
  // the one asked for, here always nanoseconds, so nothing is lost).
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error(path + ": " + std::strerror(errno));
  uint32_t magic = 0;
  const size_t got = std::fread(&magic, 1, sizeof(magic), f);
  struct stat st {};
  if (fstat(fileno(f), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  std::fclose(f);
  if (got != sizeof(magic)) {
    throw std::runtime_error(path + ": not a capture (" + std::to_string(size_) +
                             " bytes; too short for a pcap or pcapng header)");
  }
  nano_ = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u || magic == 0x0a0d0d0au;
  char err[PCAP_ERRBUF_SIZE] = {};
  impl_->p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (impl_->p == nullptr) throw std::runtime_error(path + ": " + err);
  const int dlt = pcap_datalink(impl_->p);
  if (dlt != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(dlt);
    pcap_close(impl_->p);
    impl_->p = nullptr;
    throw std::runtime_error(path + ": link type " + (name != nullptr ? name : "unknown") + " (" +
                             std::to_string(dlt) +
                             "); only Ethernet (EN10MB) captures can be replayed");
  }
}

PcapReader::~PcapReader() {
  if (impl_->p != nullptr) pcap_close(impl_->p);
}

bool PcapReader::next(PcapRecord& rec) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* bytes = nullptr;
  const int rc = pcap_next_ex(impl_->p, &hdr, &bytes);
  if (rc == 1) {
    ++records_;
    rec.data = bytes;
    rec.caplen = hdr->caplen;
    rec.len = hdr->len;
    rec.sec = hdr->ts.tv_sec;
    rec.nsec = static_cast<uint32_t>(hdr->ts.tv_usec);
    return true;
  }
  if (rc == PCAP_ERROR_BREAK) return false;  // end of file
  throw std::runtime_error(path_ + ": record " + std::to_string(records_ + 1) + ": " +
                           pcap_geterr(impl_->p));
}

uint64_t PcapReader::offset() const {
  FILE* f = pcap_file(impl_->p);
  if (f == nullptr) return 0;
  const long off = std::ftell(f);
  return off < 0 ? 0 : static_cast<uint64_t>(off);
}

struct PcapWriter::Impl {
  pcap_t* dead = nullptr;
  pcap_dumper_t* d = nullptr;
};

PcapWriter::PcapWriter(const std::string& path, bool nanosecond)
    : impl_(std::make_unique<Impl>()),
      path_(path),
      tmp_(path + ".tmp." + std::to_string(getpid())),
      nano_(nanosecond) {
  impl_->dead = pcap_open_dead_with_tstamp_precision(
      DLT_EN10MB, 262144, nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
  if (impl_->dead == nullptr) throw std::runtime_error(path + ": pcap_open_dead failed");
  impl_->d = pcap_dump_open(impl_->dead, tmp_.c_str());
  if (impl_->d == nullptr) {
    const std::string why = pcap_geterr(impl_->dead);
    pcap_close(impl_->dead);
    impl_->dead = nullptr;
    throw std::runtime_error(path + ": cannot create: " + why);
  }
}

PcapWriter::~PcapWriter() {
  if (impl_->d != nullptr) {
    pcap_dump_close(impl_->d);
    std::remove(tmp_.c_str());
  }
  if (impl_->dead != nullptr) pcap_close(impl_->dead);
}

void PcapWriter::write(const uint8_t* data, uint32_t caplen, uint32_t len, int64_t sec,
                       uint32_t nsec) {
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(sec);
  hdr.ts.tv_usec = static_cast<suseconds_t>(nano_ ? nsec : nsec / 1000);
  hdr.caplen = caplen;
  hdr.len = len > caplen ? len : caplen;
  pcap_dump(reinterpret_cast<u_char*>(impl_->d), &hdr, data);
  ++frames_;
}

void PcapWriter::commit() {
  FILE* f = pcap_dump_file(impl_->d);
  const bool ok = pcap_dump_flush(impl_->d) == 0 && std::ferror(f) == 0;
  const int e = errno;
  pcap_dump_close(impl_->d);
  impl_->d = nullptr;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int why = ok ? errno : e;
    std::remove(tmp_.c_str());
    throw std::runtime_error(path_ + ": cannot write: " + std::strerror(why));
  }
}

}  // namespace skbpf::dataplane
