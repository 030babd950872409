// The peer of the replay benchmark: what it costs libpcap alone to read a
// capture and write every frame to another one (pcap_next_ex + pcap_dump,
// no program, no DPDK), so `skbpf replay`'s frames per second can be put
// beside the file I/O floor on the same capture and disk.
//
// Usage: pcap_copy IN.pcap OUT.pcap [--repeat N]
// Runs the copy N times (default 3) and prints the fastest as one JSON line:
//   {"frames":N,"seconds":S,"fps":F}
// A run is timed from opening the input to closing (flushing) the output.
#include <pcap/pcap.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int usage() {
  std::fprintf(stderr, "usage: pcap_copy IN.pcap OUT.pcap [--repeat N]\n");
  return 2;
}

// One copy; returns the frame count, or -1 after printing why.
int64_t copy_once(const char* in_path, const char* out_path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline(in_path, err);
  if (!in) {
    std::fprintf(stderr, "pcap_copy: %s: %s\n", in_path, err);
    return -1;
  }
  // The input handle gives the output its link type, snap length and
  // timestamp precision.
  pcap_dumper_t* out = pcap_dump_open(in, out_path);
  if (!out) {
    std::fprintf(stderr, "pcap_copy: %s: %s\n", out_path, pcap_geterr(in));
    pcap_close(in);
    return -1;
  }
  int64_t frames = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(in, &hdr, &data)) == 1) {
    pcap_dump(reinterpret_cast<u_char*>(out), hdr, data);
    ++frames;
  }
  if (rc == PCAP_ERROR) {
    std::fprintf(stderr, "pcap_copy: %s: after %lld frames: %s\n", in_path,
                 static_cast<long long>(frames), pcap_geterr(in));
    frames = -1;
  }
  if (pcap_dump_flush(out) != 0) {
    std::fprintf(stderr, "pcap_copy: %s: write failed\n", out_path);
    frames = -1;
  }
  pcap_dump_close(out);
  pcap_close(in);
  return frames;
}

}  // namespace

int main(int argc, char** argv) {
  const char* in_path = nullptr;
  const char* out_path = nullptr;
  long repeat = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0) {
      if (i + 1 >= argc) return usage();
      char* end = nullptr;
      repeat = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || repeat < 1) {
        std::fprintf(stderr, "pcap_copy: --repeat: '%s' is not a positive integer\n", argv[i]);
        return 2;
      }
    } else if (!in_path) {
      in_path = argv[i];
    } else if (!out_path) {
      out_path = argv[i];
    } else {
      return usage();
    }
  }
  if (!in_path || !out_path) return usage();

  int64_t frames = -1;
  double best = 0;
  for (long r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    int64_t n = copy_once(in_path, out_path);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (n < 0) return 1;
    if (frames >= 0 && n != frames) {
      std::fprintf(stderr, "pcap_copy: run %ld copied %lld frames, run 1 %lld\n", r + 1,
                   static_cast<long long>(n), static_cast<long long>(frames));
      return 1;
    }
    frames = n;
    if (r == 0 || s < best) best = s;
  }
  double fps = best > 0 ? static_cast<double>(frames) / best : 0;
  std::printf("{\"frames\":%lld,\"seconds\":%.6f,\"fps\":%.0f}\n", static_cast<long long>(frames),
              best, fps);
  return 0;
}
