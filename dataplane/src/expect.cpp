// Golden capture comparison (see expect.h).
#include "skbpf/dataplane/expect.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "skbpf/dataplane/frame_diff.h"
#include "skbpf/dataplane/pcap_stream.h"

namespace skbpf::dataplane {
namespace fs = std::filesystem;

std::string ExpectDifference::text() const {
  return frame == 0 ? fmt::format("{}: {}", file, what)
                    : fmt::format("{}: frame {}: {}", file, frame, what);
}

namespace {

void compare_file(const std::string& got_path, const std::string& golden_path,
                  const std::string& name, uint32_t limit, ExpectResult& res) {
  PcapReader got(got_path), want(golden_path);
  PcapRecord g, w;
  uint32_t listed = 0;
  auto report = [&](uint64_t frame, std::string what) {
    ++res.differing_frames;
    if (listed++ < limit) res.differences.push_back({name, frame, std::move(what)});
  };
  uint64_t frame = 0;
  for (;;) {
    const bool hg = got.next(g);
    const bool hw = want.next(w);
    if (!hg && !hw) break;
    ++frame;
    if (hg && hw) {
      ++res.frames;
      const std::string d = describe_frame_difference(g.data, g.caplen, w.data, w.caplen);
      if (!d.empty()) report(frame, d);
      continue;
    }
    // One side ran out: every further frame of the other is a difference.
    uint64_t n_extra = 0;
    const bool extra = hg;
    PcapReader& rest = extra ? got : want;
    PcapRecord& r = extra ? g : w;
    const uint64_t first = frame;
    do {
      ++n_extra;
      if (listed < limit) {
        report(first + n_extra - 1, fmt::format("{}: {}", extra ? "extra frame" : "missing frame",
                                                describe_frame(r.data, r.caplen)));
      } else {
        report(first + n_extra - 1, "");
      }
    } while (rest.next(r));
    const uint64_t got_n = extra ? first - 1 + n_extra : first - 1;
    const uint64_t want_n = extra ? first - 1 : first - 1 + n_extra;
    res.differences.push_back(
        {name, 0, fmt::format("{} frames, golden capture has {}", got_n, want_n)});
    break;
  }
  if (listed > limit) {
    res.differences.push_back(
        {name, 0, fmt::format("{} more differing frames not listed", listed - limit)});
  }
}

}  // namespace

ExpectResult compare_with_golden(const std::vector<std::string>& outputs,
                                 const std::string& golden_dir, uint32_t limit) {
  ExpectResult res;
  if (!fs::is_directory(golden_dir))
    throw std::runtime_error(golden_dir + ": not a directory (--expect)");
  std::set<std::string> names;
  for (const std::string& out : outputs) {
    const std::string name = fs::path(out).filename().string();
    names.insert(name);
    const fs::path golden = fs::path(golden_dir) / name;
    if (!fs::exists(golden)) {
      PcapReader r(out);
      PcapRecord rec;
      uint64_t n = 0;
      while (r.next(rec)) ++n;
      if (n != 0) {
        ++res.differing_frames;
        res.differences.push_back(
            {name, 0, fmt::format("{} frames sent, but {} has no golden {}", n, golden_dir, name)});
      }
      continue;
    }
    ++res.files;
    compare_file(out, golden.string(), name, limit, res);
  }
  for (const auto& e : fs::directory_iterator(golden_dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".pcap" || names.count(name) != 0) continue;
    res.differences.push_back(
        {name, 0,
         fmt::format("golden capture in {} matches no port of the switch (no output {})",
                     golden_dir, name)});
  }
  return res;
}

}  // namespace skbpf::dataplane
