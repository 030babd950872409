// libpcap, kept away from <linux/bpf.h> (see kernel_oracle.h).
#include <pcap/pcap.h>

#include <stdexcept>

#include "kernel_oracle.h"

namespace skbpf::oracle {

std::vector<Bytes> read_pcap(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) throw std::runtime_error(path + ": " + err);
  std::vector<Bytes> frames;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) frames.emplace_back(data, data + hdr->caplen);
  std::string why = rc == PCAP_ERROR ? pcap_geterr(p) : "";
  pcap_close(p);
  if (rc == PCAP_ERROR) throw std::runtime_error(path + ": " + why);
  return frames;
}

}  // namespace skbpf::oracle
