// skbpf replay in process (dataplane/replay.h): the one-program shorthand
// against test-run's verdicts, a stateful program whose results depend on
// each flow's packet order checked against a model, outputs and maps
// identical for any number of workers and any batch size, inputs merged by
// timestamp, nanosecond timestamps, pcapng, long (chained) frames, the
// trace, and the errors (truncated capture, not a capture, unknown port)
// leaving no output behind.
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "skbpf/config/config.h"
#include "skbpf/dataplane/expect.h"
#include "skbpf/dataplane/map_init.h"
#include "skbpf/dataplane/pcap_io.h"
#include "skbpf/dataplane/pcap_stream.h"
#include "skbpf/dataplane/program_set.h"
#include "skbpf/dataplane/replay.h"
#include "skbpf/dataplane/test_run.h"

namespace skbpf::dataplane {
namespace {

namespace fs = std::filesystem;
const std::string kBuild = BUILD_DIR;
const std::string kSource = SOURCE_DIR;
const std::string kReplayObj = REPLAY_PROGS_OBJ;

std::string tmpdir(const std::string& name) {
  const fs::path p =
      fs::temp_directory_path() / ("skbpf-replay-test-" + std::to_string(getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

struct Frame {
  std::vector<uint8_t> data;
  int64_t sec = 0;
  uint32_t nsec = 0;
};

std::vector<Frame> read_all(const std::string& path) {
  PcapReader r(path);
  PcapRecord rec;
  std::vector<Frame> v;
  while (r.next(rec)) v.push_back({{rec.data, rec.data + rec.caplen}, rec.sec, rec.nsec});
  return v;
}

void write_all(const std::string& path, const std::vector<Frame>& frames, bool nano) {
  PcapWriter w(path, nano);
  for (const Frame& f : frames)
    w.write(f.data.data(), static_cast<uint32_t>(f.data.size()),
            static_cast<uint32_t>(f.data.size()), f.sec, f.nsec);
  w.commit();
}

// Ethernet + IPv4 + UDP/TCP. The IPv4 checksum is left 0 (the program only
// adjusts it incrementally; nothing checks it).
std::vector<uint8_t> ip_frame(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                              uint8_t proto, uint16_t len, uint32_t tag) {
  std::vector<uint8_t> f(len, 0);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  std::memcpy(f.data(), mac, 12);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>((len - 14) >> 8);
  ip[3] = static_cast<uint8_t>(len - 14);
  ip[8] = 64;
  ip[9] = proto;
  for (int i = 0; i < 4; ++i) {
    ip[12 + i] = static_cast<uint8_t>(saddr >> (24 - 8 * i));
    ip[16 + i] = static_cast<uint8_t>(daddr >> (24 - 8 * i));
  }
  uint8_t* l4 = ip + 20;
  l4[0] = static_cast<uint8_t>(sport >> 8);
  l4[1] = static_cast<uint8_t>(sport);
  l4[2] = static_cast<uint8_t>(dport >> 8);
  l4[3] = static_cast<uint8_t>(dport);
  std::memcpy(f.data() + len - 4, &tag, 4);  // tells frames apart
  return f;
}

struct FlowFrame {
  uint32_t flow;
  Frame frame;
};

// `n` frames over `flows` flows (some to port 53), seeded, timestamps
// `t0` + i * `step` ns.
std::vector<FlowFrame> traffic(uint32_t n, uint32_t flows, uint32_t seed, int64_t t0,
                               uint32_t step) {
  std::mt19937 rng(seed);
  std::vector<FlowFrame> v;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t fl = rng() % flows;
    const bool reply = (rng() & 3) == 0;  // some packets go the other way
    uint32_t s = 0x0a640000u + fl, d = 0x0a650000u + fl % 17;
    uint16_t sp = static_cast<uint16_t>(1024 + fl), dp = fl % 5 == 0 ? 53 : 80;
    if (reply) {
      std::swap(s, d);
      std::swap(sp, dp);
    }
    const uint16_t len = static_cast<uint16_t>(60 + rng() % 200);
    const int64_t ns = t0 + int64_t{i} * step;
    v.push_back({fl * 2 + (reply ? 1 : 0),
                 {ip_frame(s, d, sp, dp, fl % 3 == 0 ? 6 : 17, len, i), ns / 1000000000,
                  static_cast<uint32_t>(ns % 1000000000)}});
  }
  return v;
}

const char* kSwitchYaml = R"(ports:
  - name: wan
    ifindex: 1
    device: net_null_wan
    next_hop: lan
  - name: lan
    ifindex: 2
    device: net_null_lan
    next_hop: wan
  - name: mirror
    ifindex: 3
    device: net_null_mirror
programs:
  wan:
    ingress:
      - object: {build}/progs/fw.o
        program: fw
        priority: 1
  lan:
    ingress:
      - object: {obj}
        program: flowstate
        priority: 1
maps:
  - object: {build}/progs/fw.o
    map: blocked
    init_file: {src}/progs/fw.map-init
)";

config::SwitchConfig switch_config() {
  std::string text = kSwitchYaml;
  auto sub = [&](const std::string& k, const std::string& v) {
    for (size_t p; (p = text.find(k)) != std::string::npos;) text.replace(p, k.size(), v);
  };
  sub("{build}", kBuild);
  sub("{obj}", kReplayObj);
  sub("{src}", kSource);
  return config::parse(text, "replay_test.yaml", kSource);
}

struct Outcome {
  ReplayResult result;
  std::map<std::string, std::vector<uint8_t>> files;
  nlohmann::json report;
};

Outcome replay(const config::SwitchConfig& cfg, const std::vector<ReplayInput>& in,
               const std::string& out, uint32_t workers, uint32_t batch) {
  ReplayOptions opt;
  opt.inputs = in;
  opt.out_dir = out;
  opt.workers = workers;
  opt.batch = batch;
  Replay r(cfg, opt);
  Outcome o;
  o.result = r.run();
  for (const auto& x : o.result.outputs) o.files[x.port] = file_bytes(x.path);
  o.report = nlohmann::json::parse(r.report_json(o.result));
  o.report.erase("duration_s");
  for (auto& x : o.report["outputs"]) x.erase("path");
  return o;
}

class ReplayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(tmpdir("inputs"));
    // lan: 6000 frames of the stateful program's traffic; wan: the
    // firewall's capture, its timestamps interleaved with lan's.
    auto t = traffic(6000, 300, 7, 1700000000LL * 1000000000LL, 1000);
    std::vector<Frame> lan;
    for (auto& ff : t) lan.push_back(ff.frame);
    write_all(*dir_ + "/lan.pcap", lan, true);
  }
  static void TearDownTestSuite() {
    fs::remove_all(fs::path(*dir_).parent_path());
    delete dir_;
  }
  static std::string* dir_;
};
std::string* ReplayTest::dir_ = nullptr;

// The shorthand's output is what test-run (the kernel's semantics, checked
// against the kernel by the oracle tests) says the program passes, in
// order, as the program changed it. Only frames test-run can run: it
// refuses frames too short for their IP header, which a port receives.
void expect_test_run_outputs(const std::string& name, bool drops_some) {
  const std::string obj = kBuild + "/progs/" + name + ".o";
  const std::string init = kSource + "/progs/" + name + ".map-init";
  ProgramSetOptions popt;
  auto set = ProgramSet::load(obj, popt);
  apply_map_init(*set, read_map_init(init), name + ".map-init");
  const LoadedProgram* prog = set->find(name);
  ASSERT_NE(prog, nullptr);
  std::vector<PcapFrame> frames;
  std::vector<std::vector<uint8_t>> expect;
  {
    TestRunner runner(*set, *prog);
    for (const PcapFrame& f : read_pcap(kBuild + "/pcaps/" + name + ".pcap")) {
      const TestRunResult r = runner.run(f.data, frames.size());
      if (!r.error.empty()) continue;
      frames.push_back(f);
      // Passed: OK, or anything that is not a direct-action verdict (UNSPEC).
      const int32_t v = static_cast<int32_t>(r.retval);
      if (v == TC_ACT_SHOT || v == TC_ACT_STOLEN || v == TC_ACT_TRAP || v == TC_ACT_REDIRECT)
        continue;
      expect.push_back(r.data_out);
    }
  }
  const std::string out = tmpdir("shorthand_" + name);
  write_pcap(out + "/in.pcap", frames);
  Outcome o = replay(single_program_config(obj, name, init), {{"port0", out + "/in.pcap"}},
                     out + "/out", 2, 5);
  const auto got = read_all(out + "/out/port0.pcap");
  ASSERT_GT(expect.size(), 5u);
  if (drops_some) {
    ASSERT_LT(expect.size(), frames.size());
  }
  ASSERT_EQ(got.size(), expect.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, expect[i]) << name << " frame " << i + 1;
  }
  EXPECT_EQ(o.result.frames_in, frames.size());
  EXPECT_EQ(got.front().sec, frames.front().ts_sec);  // the input's timestamps
}

TEST_F(ReplayTest, ShorthandPassesWhatTestRunPassesFirewall) {
  expect_test_run_outputs("fw", true);
}

TEST_F(ReplayTest, ShorthandRewritesAsTestRunDoesDnat) {
  expect_test_run_outputs("dnat", false);
}

TEST_F(ReplayTest, StatefulProgramFollowsEachFlowsOrder) {
  const std::string out = tmpdir("model");
  Outcome o = replay(switch_config(), {{"lan", *dir_ + "/lan.pcap"}}, out, 2, 64);
  // The model: per flow (a direction of a connection), packet n is dropped
  // when n % 7 == 0, TTL-1 when n % 3 == 0, copied to mirror when n == 5,
  // sent to lan when the destination port is 53, else passed to wan.
  auto t = traffic(6000, 300, 7, 1700000000LL * 1000000000LL, 1000);
  std::map<uint32_t, uint64_t> n;
  std::vector<std::vector<uint8_t>> wan, lan, mirror;
  for (auto& ff : t) {
    const uint64_t k = ++n[ff.flow];
    std::vector<uint8_t> f = ff.frame.data;
    if (k % 7 == 0) continue;
    if (k % 3 == 0) {
      f[14 + 8] -= 1;
      // The checksum the program adjusts (RFC 1624 on the 16-bit word).
      uint16_t csum = static_cast<uint16_t>(f[24] << 8 | f[25]);
      uint32_t sum = static_cast<uint16_t>(~csum) + static_cast<uint16_t>(~(uint16_t)(64 << 8)) +
                     static_cast<uint16_t>(63 << 8);
      sum = (sum & 0xffff) + (sum >> 16);
      sum = (sum & 0xffff) + (sum >> 16);
      csum = static_cast<uint16_t>(~sum);
      f[24] = static_cast<uint8_t>(csum >> 8);
      f[25] = static_cast<uint8_t>(csum);
    }
    if (k == 5) mirror.push_back(f);
    const uint16_t dport = static_cast<uint16_t>(f[36] << 8 | f[37]);
    (dport == 53 ? lan : wan).push_back(f);
  }
  auto check = [&](const std::string& port, const std::vector<std::vector<uint8_t>>& want) {
    const auto got = read_all(out + "/" + port + ".pcap");
    ASSERT_EQ(got.size(), want.size()) << port;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].data.size(), want[i].size()) << port << " frame " << i + 1;
      // The TTL and payload must match; the checksum only where the model
      // computes it the same way (it does: both are RFC 1624).
      EXPECT_EQ(got[i].data, want[i]) << port << " frame " << i + 1;
    }
  };
  check("wan", wan);
  check("lan", lan);
  check("mirror", mirror);
}

TEST_F(ReplayTest, SameOutputsAndMapsForAnyWorkersAndBatch) {
  const std::vector<ReplayInput> in = {{"lan", *dir_ + "/lan.pcap"},
                                       {"wan", kBuild + "/pcaps/fw.pcap"}};
  const Outcome a = replay(switch_config(), in, tmpdir("w1"), 1, 7);
  const Outcome b = replay(switch_config(), in, tmpdir("w2"), 2, 64);
  const Outcome c = replay(switch_config(), in, tmpdir("w4"), 4, 512);
  EXPECT_GT(a.files.at("wan").size(), 1000u);
  EXPECT_GT(a.files.at("mirror").size(), 100u);
  for (const Outcome* x : {&b, &c}) {
    EXPECT_EQ(x->files, a.files);
    EXPECT_EQ(x->report, a.report);  // statistics and every map, per-CPU slots included
  }
  // The maps are there: the firewall's blocked flows and the flow table.
  size_t flows = 0;
  for (const auto& m : a.report["maps"]) flows += m["map"] == "flows";
  std::set<uint32_t> want;
  for (const auto& ff : traffic(6000, 300, 7, 1700000000LL * 1000000000LL, 1000))
    want.insert(ff.flow);
  EXPECT_EQ(flows, want.size());
}

TEST_F(ReplayTest, InputsMergeByTimestampAndKeepNanoseconds) {
  const std::string dir = tmpdir("merge");
  // Two inputs with interleaved nanosecond timestamps (and one tie: the
  // input named first goes first); both ports pass everything to `out`.
  std::vector<Frame> a, b;
  for (uint32_t i = 0; i < 50; ++i) {
    a.push_back({ip_frame(1, 2, 1000, 80, 17, 80, i), 100, 10 * i + 1});
    b.push_back({ip_frame(3, 4, 2000, 80, 17, 90, 1000 + i), 100, 10 * i + (i == 7 ? 1 : 5)});
  }
  write_all(dir + "/a.pcap", a, true);
  write_all(dir + "/b.pcap", b, true);
  const std::string yaml = R"(ports:
  - {name: pa, ifindex: 1, device: x, next_hop: out}
  - {name: pb, ifindex: 2, device: y, next_hop: out}
  - {name: out, ifindex: 3, device: z}
)";
  const auto cfg = config::parse(yaml, "merge.yaml", dir);
  replay(cfg, {{"pa", dir + "/a.pcap"}, {"pb", dir + "/b.pcap"}}, dir + "/out", 2, 3);
  const auto got = read_all(dir + "/out/out.pcap");
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_LE(std::pair(got[i - 1].sec, got[i - 1].nsec), std::pair(got[i].sec, got[i].nsec));
  }
  // The tie at 71 ns: a's frame 7 first.
  size_t ia = 0, ib = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].data == a[7].data) ia = i;
    if (got[i].data == b[7].data) ib = i;
  }
  EXPECT_LT(ia, ib);
  EXPECT_EQ(got[0].nsec, 1u);  // nanoseconds kept
}

TEST_F(ReplayTest, PcapngAndLongFramesAndMicroseconds) {
  const std::string dir = tmpdir("formats");
  // A 9000-byte frame (chained buffers) among short ones, µs capture.
  std::vector<PcapFrame> frames;
  for (uint32_t i = 0; i < 5; ++i) {
    PcapFrame f;
    f.data = ip_frame(5, 6, 7, 8, 17, i == 2 ? 9000 : 100, i);
    f.ts_sec = 200;
    f.ts_usec = i * 3;
    frames.push_back(f);
  }
  write_pcap(dir + "/in.pcap", frames);
  const std::string ng = dir + "/in.pcapng";
  ASSERT_EQ(std::system(("editcap -F pcapng " + dir + "/in.pcap " + ng).c_str()), 0)
      << "editcap (wireshark-common) is needed";
  const auto cfg = single_program_config(kBuild + "/progs/fw.o", "fw", "");
  replay(cfg, {{"port0", dir + "/in.pcap"}}, dir + "/o1", 1, 512);
  replay(cfg, {{"port0", ng}}, dir + "/o2", 2, 512);
  const auto a = read_all(dir + "/o1/port0.pcap"), b = read_all(dir + "/o2/port0.pcap");
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(a[i].data, frames[i].data) << i;
    EXPECT_EQ(b[i].data, frames[i].data) << i;
    EXPECT_EQ(a[i].nsec, i * 3000u);
    EXPECT_EQ(b[i].nsec, i * 3000u);
  }
  // A µs input gives a µs output file; pcapng (per-interface resolution) gives ns.
  EXPECT_EQ(file_bytes(dir + "/o1/port0.pcap")[0], 0xd4);
  EXPECT_EQ(file_bytes(dir + "/o2/port0.pcap")[0], 0x4d);
}

TEST_F(ReplayTest, TruncatedCaptureNamesTheRecordAndLeavesNoOutput) {
  const std::string dir = tmpdir("trunc");
  auto bytes = file_bytes(kBuild + "/pcaps/fw.pcap");
  // Cut inside the 6th record: 24-byte file header, then records.
  size_t off = 24;
  for (int i = 0; i < 5; ++i) {
    uint32_t caplen;
    std::memcpy(&caplen, &bytes[off + 8], 4);
    off += 16 + caplen;
  }
  bytes.resize(off + 16 + 3);
  std::ofstream(dir + "/cut.pcap", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const auto cfg = single_program_config(kBuild + "/progs/fw.o", "fw", "");
  ReplayOptions opt;
  opt.inputs = {{"port0", dir + "/cut.pcap"}};
  opt.out_dir = dir + "/out";
  Replay r(cfg, opt);
  try {
    r.run();
    FAIL() << "a truncated capture was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.pcap: record 6"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir + "/out")) << "no output, no temporary file";
}

TEST_F(ReplayTest, BadInputsAreClearErrors) {
  const std::string dir = tmpdir("bad");
  std::ofstream(dir + "/text.pcap") << "hello, this is not a capture\n";
  const auto cfg = single_program_config(kBuild + "/progs/fw.o", "fw", "");
  auto error_of = [&](std::vector<ReplayInput> in) -> std::string {
    ReplayOptions opt;
    opt.inputs = std::move(in);
    opt.out_dir = dir + "/out";
    try {
      Replay r(cfg, opt);
      r.run();
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({{"port0", dir + "/text.pcap"}}).find("text.pcap"), std::string::npos);
  EXPECT_NE(error_of({{"port0", dir + "/missing.pcap"}}).find("missing.pcap: No such file"),
            std::string::npos);
  EXPECT_NE(error_of({{"nope", kBuild + "/pcaps/fw.pcap"}}).find("no port named 'nope'"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir + "/out/port0.pcap"));
}

TEST_F(ReplayTest, TraceSaysWhatHappenedToEachFrame) {
  const std::string dir = tmpdir("trace");
  ReplayOptions opt;
  opt.inputs = {{"wan", kBuild + "/pcaps/fw.pcap"}};
  opt.out_dir = dir;
  opt.workers = 2;
  opt.trace_json = true;
  std::vector<std::string> lines;
  opt.on_trace = [&](const std::string& l) { lines.push_back(l); };
  Replay r(switch_config(), opt);
  const ReplayResult res = r.run();
  ASSERT_EQ(lines.size(), res.frames_in);
  size_t out_lan = 0, shot = 0, runts = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto j = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(j["frame"], i + 1);
    EXPECT_EQ(j["in"], "wan");
    for (const auto& s : j["steps"]) {
      if (s.contains("out") && s["out"] == "lan") ++out_lan;
      if (s.contains("verdict") && s["verdict"] == "shot") {
        ++shot;
        EXPECT_EQ(s["programs"][0]["name"], "fw");
        EXPECT_EQ(s["programs"][0]["rc"], 2);
      }
      if (s.contains("drop") && s["drop"] == "runt") ++runts;
    }
  }
  EXPECT_EQ(out_lan, res.outputs[1].frames);
  EXPECT_GT(shot, 0u);
  EXPECT_GT(runts, 0u);
}

TEST_F(ReplayTest, ExpectNamesTheFieldThatDiffers) {
  const std::string dir = tmpdir("expect");
  const auto cfg = single_program_config(kBuild + "/progs/fw.o", "fw", "");
  const Outcome o = replay(cfg, {{"port0", kBuild + "/pcaps/fw.pcap"}}, dir + "/out", 1, 512);
  fs::create_directories(dir + "/golden");
  // Identical golden: no difference.
  fs::copy_file(dir + "/out/port0.pcap", dir + "/golden/port0.pcap");
  EXPECT_TRUE(compare_with_golden({dir + "/out/port0.pcap"}, dir + "/golden").ok());
  // One TTL changed in frame 2, the last frame removed.
  auto frames = read_all(dir + "/out/port0.pcap");
  ASSERT_GT(frames.size(), 3u);
  frames[1].data[14 + 8] = 99;
  const auto last = frames.back();
  frames.pop_back();
  write_all(dir + "/golden/port0.pcap", frames, false);
  const ExpectResult r = compare_with_golden({dir + "/out/port0.pcap"}, dir + "/golden");
  ASSERT_FALSE(r.ok());
  ASSERT_GE(r.differences.size(), 2u);
  EXPECT_EQ(r.differences[0].frame, 2u);
  EXPECT_NE(r.differences[0].text().find("port0.pcap: frame 2: ipv4.ttl"), std::string::npos)
      << r.differences[0].text();
  EXPECT_NE(r.differences[0].what.find("!= 99"), std::string::npos) << r.differences[0].what;
  EXPECT_EQ(r.differences[1].frame, frames.size() + 1);
  EXPECT_NE(r.differences[1].what.find("extra frame"), std::string::npos);
  // A golden capture for a port that does not exist.
  fs::copy_file(dir + "/golden/port0.pcap", dir + "/golden/other.pcap");
  const ExpectResult r2 = compare_with_golden({dir + "/out/port0.pcap"}, dir + "/golden");
  bool named = false;
  for (const auto& d : r2.differences) named |= d.file == "other.pcap";
  EXPECT_TRUE(named);
  (void)last;
}

}  // namespace
}  // namespace skbpf::dataplane
