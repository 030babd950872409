// The kernel as oracle for `skbpf test-run` (issue 4, item 4): every
// program of progs/ runs in this machine's kernel (BPF_PROG_TEST_RUN through
// libbpf, tests/kernel_oracle.cpp) and through the `skbpf test-run --json`
// command on the same object, map contents and frames; every frame must give
// the same error or the same retval, output bytes, mark, priority, tc_index
// and cb, and the maps afterwards the same elements (per-CPU values summed
// over CPUs / lcores). Where bpf() is refused the comparison is skipped,
// saying why; the skbpf half still has to run without errors.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "kernel_oracle.h"

namespace {

using namespace skbpf::oracle;
using json = nlohmann::json;

// A program to compare: progs/NAME.o with pcaps/NAME.pcap and
// progs/NAME.map-init, or (helper exercisers, tests/oracle_progs/) the
// object of that directory run over pcaps/mixed.pcap.
struct Case {
  std::string name;
  bool exerciser = false;
};
std::string obj(const Case& c) {
  return std::string(c.exerciser ? SKBPF_ORACLE_PROGS_DIR : SKBPF_PROGS_DIR) + "/" + c.name + ".o";
}
std::string pcap(const Case& c) {
  return std::string(SKBPF_PCAPS_DIR "/") + (c.exerciser ? std::string("mixed") : c.name) + ".pcap";
}
std::string map_init_path(const Case& c) {
  return std::string(c.exerciser ? SKBPF_ORACLE_PROGS_SRC_DIR : SKBPF_PROGS_SRC_DIR) + "/" +
         c.name + ".map-init";
}
std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* n : {"fw", "dnat", "dispatch", "vlan", "route", "vxlan_encap", "ipip",
                        "sockfilter", "globals"}) {
    out.push_back({n, false});
  }
  // Comma-separated names from tests/meson.build's oracle_progs lists.
  std::string list = SKBPF_ORACLE_PROGS;
  for (size_t at = 0; at < list.size();) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    if (comma > at) out.push_back({list.substr(at, comma - at), true});
    at = comma + 1;
  }
  return out;
}
bool exists(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

Bytes unhex(const std::string& s) {
  Bytes out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::stoul(s.substr(2 * i, 2), nullptr, 16));
  return out;
}
std::string hex(const Bytes& b) {
  std::string s;
  char buf[3];
  for (uint8_t v : b) {
    std::snprintf(buf, sizeof(buf), "%02x", v);
    s += buf;
  }
  return s;
}

// Sums a per-CPU element's values lane by lane (u64 lanes when the value
// size allows, else bytes compared as they are: only one value then).
Bytes summed(const std::vector<Bytes>& values) {
  Bytes out = values.at(0);
  if (out.size() % 8 != 0) return out;
  for (size_t v = 1; v < values.size(); ++v) {
    for (size_t off = 0; off < out.size(); off += 8) {
      uint64_t a, b;
      std::memcpy(&a, out.data() + off, 8);
      std::memcpy(&b, values[v].data() + off, 8);
      a += b;
      std::memcpy(out.data() + off, &a, 8);
    }
  }
  return out;
}

struct SkbpfRun {
  std::vector<json> frames;
  std::map<std::pair<std::string, Bytes>, Bytes> maps;  // per-CPU summed
  std::string output;
  int status = -1;
};

SkbpfRun run_skbpf(const Case& c, uint32_t repeat, const std::string& engine) {
  std::string cmd = std::string(SKBPF_TOOL) + " test-run " + obj(c) + " --prog " + c.name +
                    " --pcap " + pcap(c) + " --json --repeat " + std::to_string(repeat) +
                    " --engine " + engine;
  if (exists(map_init_path(c))) cmd += " --map-init " + map_init_path(c);
  SkbpfRun r;
  // stderr (trace_printk lines, messages) apart from the JSON lines of stdout.
  const std::string err_path =
      ::testing::TempDir() + "/skbpf_oracle_" + c.name + "_" + std::to_string(repeat) + ".stderr";
  std::FILE* p = popen((cmd + " 2>" + err_path).c_str(), "r");
  if (p == nullptr) return r;
  char line[65536];
  while (std::fgets(line, sizeof(line), p) != nullptr) {
    r.output += line;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("index")) {
      r.frames.push_back(j);
    } else if (j.contains("map")) {
      std::vector<Bytes> values;
      if (j.contains("values")) {
        for (const auto& v : j["values"]) values.push_back(unhex(v.get<std::string>()));
      } else {
        values.push_back(unhex(j["value"].get<std::string>()));
      }
      r.maps[{j["map"].get<std::string>(), unhex(j["key"].get<std::string>())}] = summed(values);
    }
  }
  r.status = pclose(p);
  std::FILE* e = std::fopen(err_path.c_str(), "r");
  if (e != nullptr) {
    r.output += "stderr:\n";
    while (std::fgets(line, sizeof(line), e) != nullptr) r.output += line;
    std::fclose(e);
    std::remove(err_path.c_str());
  }
  return r;
}

class TestRunOracle : public ::testing::TestWithParam<Case> {
 protected:
  void compare(uint32_t repeat, const std::string& engine = "interp-checked");
};

// One run per frame.
TEST_P(TestRunOracle, SameAsTheKernel) {
  compare(1);
}
// --repeat 3: three runs on the same packet (packet changes and map updates
// accumulate in the kernel; they must here too).
TEST_P(TestRunOracle, SameAsTheKernelRepeated) {
  compare(3);
}
// The same on the JIT (issue 5), repeated too.
TEST_P(TestRunOracle, SameAsTheKernelOnTheJit) {
  compare(3, "jit");
}

void TestRunOracle::compare(uint32_t repeat, const std::string& engine) {
  const Case& c = GetParam();
  const std::string& name = c.name;
  const SkbpfRun ours = run_skbpf(c, repeat, engine);
  // A program the JIT refuses runs on the interpreter and says so: then
  // this would not be a test of the JIT.
  EXPECT_EQ(ours.output.find("the JIT refused it"), std::string::npos) << ours.output;
  ASSERT_EQ(ours.status, 0) << ours.output;
  const std::vector<Bytes> frames = read_pcap(pcap(c));
  ASSERT_EQ(ours.frames.size(), frames.size()) << ours.output;

  std::vector<MapInit> init;
  if (exists(map_init_path(c))) init = read_map_init(map_init_path(c));
  KernelRun kernel;
  try {
    kernel = kernel_test_run(obj(c), name, pcap(c), init, repeat);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  if (!kernel.skip_reason.empty())
    GTEST_SKIP() << "kernel oracle unavailable: " << kernel.skip_reason;
  ASSERT_EQ(kernel.frames.size(), frames.size());

  size_t compared = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const FrameResult& k = kernel.frames[i];
    const json& s = ours.frames[i];
    ASSERT_EQ(s["index"].get<size_t>(), i);
    const std::string where =
        name + " frame " + std::to_string(i) + " (" + std::to_string(frames[i].size()) + " bytes)";
    if (k.error != 0) {
      EXPECT_TRUE(s.contains("error")) << where << ": the kernel refused it ("
                                       << std::strerror(k.error) << "), skbpf ran it: " << s.dump();
      continue;
    }
    if (s.contains("error")) {
      ADD_FAILURE() << where << ": the kernel ran it, skbpf refused: " << s["error"];
      continue;
    }
    ++compared;
    EXPECT_EQ(s["retval"].get<uint32_t>(), k.retval) << where;
    EXPECT_EQ(s["data_out"].get<std::string>(), hex(k.data_out)) << where;
    EXPECT_EQ(s["mark"].get<uint32_t>(), k.mark) << where;
    EXPECT_EQ(s["priority"].get<uint32_t>(), k.priority) << where;
    EXPECT_EQ(s["tc_index"].get<uint32_t>(), k.tc_index) << where;
    for (int c = 0; c < 5; ++c)
      EXPECT_EQ(s["cb"][c].get<uint32_t>(), k.cb[c]) << where << " cb[" << c << "]";
  }
  EXPECT_GT(compared, 0u);

  size_t kernel_elements = 0;
  for (const MapElement& e : kernel.maps) {
    ++kernel_elements;
    auto it = ours.maps.find({e.map, e.key});
    if (it == ours.maps.end()) {
      ADD_FAILURE() << name << ": map " << e.map << " key " << hex(e.key)
                    << " is in the kernel's map, not in skbpf's";
      continue;
    }
    EXPECT_EQ(hex(it->second), hex(summed(e.values)))
        << name << ": map " << e.map << " key " << hex(e.key);
  }
  EXPECT_EQ(ours.maps.size(), kernel_elements) << name << ": skbpf's maps have other elements";
  std::printf("%s (%s, repeat %u): %zu frames compared with the kernel, %zu map elements\n",
              name.c_str(), engine.c_str(), repeat, compared, kernel_elements);
}

INSTANTIATE_TEST_SUITE_P(Progs, TestRunOracle, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
