// libpcap's translation unit (see pcap_io.h for why it is alone).
#include "skbpf/dataplane/pcap_io.h"

#include <pcap/pcap.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace skbpf::dataplane {

std::vector<PcapFrame> read_pcap(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) throw std::runtime_error(path + ": " + err);
  if (pcap_datalink(p) != DLT_EN10MB) {
    const std::string name = pcap_datalink_val_to_name(pcap_datalink(p)) ?: "unknown";
    pcap_close(p);
    throw std::runtime_error(path + ": link type " + name +
                             ", only Ethernet (EN10MB) is supported");
  }
  std::vector<PcapFrame> frames;
  pcap_pkthdr* hdr = nullptr;
  const u_char* bytes = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &bytes)) == 1) {
    PcapFrame f;
    f.data.assign(bytes, bytes + hdr->caplen);
    f.orig_len = hdr->len;
    f.ts_sec = hdr->ts.tv_sec;
    f.ts_usec = hdr->ts.tv_usec;
    frames.push_back(std::move(f));
  }
  if (rc == PCAP_ERROR) {
    const std::string why = pcap_geterr(p);
    pcap_close(p);
    throw std::runtime_error(path + ": frame " + std::to_string(frames.size()) + ": " + why);
  }
  pcap_close(p);
  return frames;
}

void write_pcap(const std::string& path, const std::vector<PcapFrame>& frames) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  if (dead == nullptr) throw std::runtime_error(path + ": pcap_open_dead failed");
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  pcap_dumper_t* d = pcap_dump_open(dead, tmp.c_str());
  if (d == nullptr) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error(path + ": " + why);
  }
  for (const PcapFrame& f : frames) {
    pcap_pkthdr hdr{};
    hdr.ts.tv_sec = f.ts_sec;
    hdr.ts.tv_usec = f.ts_usec;
    hdr.caplen = static_cast<bpf_u_int32>(f.data.size());
    hdr.len = f.orig_len > f.data.size() ? f.orig_len : static_cast<bpf_u_int32>(f.data.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &hdr, f.data.data());
  }
  const bool ok = pcap_dump_flush(d) == 0;
  pcap_dump_close(d);
  pcap_close(dead);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot write: " + std::strerror(e));
  }
}

}  // namespace skbpf::dataplane
