// Pinned maps and `skbpf map` against a real `skbpf run` (docs/pinning.md):
// reads and writes from a second process while the dataplane forwards and
// while it is stopped; counters that continue after a restart; a pinned
// file whose definition does not match is refused naming both; SIGKILL in
// the middle of heavy map updates leaves every pinned map whole; a map
// pinned live; error messages and exit codes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "cli_run.h"
#include "skbpf/maps/pin.h"

namespace {

using skbpf::testing::run_tool;
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kCounters = std::string(SKBPF_PROGS_DIR) + "/counters.o";
const std::string kFw = std::string(SKBPF_PROGS_DIR) + "/fw.o";

// Two net_null ports forwarding to each other; `program` on n0's ingress.
// net_null frames are 64 bytes long.
class Dataplane {
 public:
  Dataplane(const std::string& dir, const std::string& config) : dir_(dir) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const std::string log = dir_ + "/run.out";
      FILE* f = std::freopen(log.c_str(), "a", stdout);
      if (f == nullptr || dup2(fileno(stdout), 2) < 0) _exit(127);
      const std::string pin = dir_ + "/pin";
      execl(SKBPF_TOOL, SKBPF_TOOL, "run", config.c_str(), "--pin-dir", pin.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300 && !up_ && alive(); ++i) {
      up_ = run_tool("stats --json --pin-dir " + dir_ + "/pin").status == 0;
      if (!up_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~Dataplane() {
    if (pid_ > 0) stop();
  }
  bool up() const { return up_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  int stop(int sig = SIGTERM) {
    kill(pid_, sig);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1000;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/run.out");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  bool up_ = false;
};

class MapCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::temp_directory_path() /
            (std::string("skbpf_map_") + info->name() + std::to_string(getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = dir_ + "/counters.yaml";
    std::ofstream(config_) << "ports:\n"
                              "  - {name: n0, ifindex: 2, device: net_null_mc0, next_hop: n1}\n"
                              "  - {name: n1, ifindex: 3, device: net_null_mc1, next_hop: n0}\n"
                              "programs:\n  n0:\n    ingress:\n      - {object: "
                           << kCounters << ", program: count, priority: 1}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string pin() const { return dir_ + "/pin"; }
  skbpf::testing::CliResult map(const std::string& args) const {
    return run_tool("map " + args + " --pin-dir " + pin());
  }
  json map_json(const std::string& args) const {
    auto r = map(args + " --json");
    EXPECT_EQ(r.status, 0) << args << ": " << r.out;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << ": " << e.what() << ": " << r.out;
      return json();
    }
  }
  // Total packets counted in `totals` (summed over lcore slots).
  uint64_t total_packets() const {
    const json d = map_json("dump totals");
    return d.is_array() && d.size() == 1 ? d[0]["sum"]["packets"].get<uint64_t>() : 0;
  }
  uint64_t rx() const {
    auto r = run_tool("stats --json --pin-dir " + pin());
    return r.status == 0 ? json::parse(r.out)["totals"]["rx_packets"].get<uint64_t>() : 0;
  }
  void wait_for_traffic() const {
    for (int i = 0; i < 100 && total_packets() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::string dir_, config_;
};

const char* kFlowKey = "key saddr=10.0.0.1 daddr=10.0.0.2 sport=1234 dport=80 proto=6";

TEST_F(MapCli, ReadAndWriteWhileRunningAndStoppedAndCountersContinue) {
  uint64_t before_stop = 0;
  {
    Dataplane d(dir_, config_);
    ASSERT_TRUE(d.up()) << d.log();
    wait_for_traffic();
    const uint64_t rx0 = rx();
    ASSERT_GT(total_packets(), 0u);

    // Typed fields in, typed and raw bytes out, over the control socket.
    ASSERT_EQ(map(std::string("update flows ") + kFlowKey + " value packets=5 bytes=300").status,
              0);
    json e = map_json(std::string("lookup flows ") + kFlowKey);
    EXPECT_EQ(e["formatted"]["key"]["saddr"], "10.0.0.1") << e;
    EXPECT_EQ(e["formatted"]["key"]["dport"], 80) << e;
    EXPECT_EQ(e["formatted"]["value"]["bytes"], 300) << e;
    EXPECT_EQ(e["key"][0], "0x0a") << e;   // network order, as the program sees it
    EXPECT_EQ(e["key"][11], "0x50") << e;  // dport 80, big-endian
    // The same element by raw bytes, and bpftool's flag words.
    auto r = map("lookup flows key hex 0a0000010a00000204d2005006000000");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("value: {packets=5, bytes=300}"), std::string::npos) << r.out;
    r = map(std::string("update flows ") + kFlowKey + " value packets=1 bytes=1 noexist");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("EEXIST"), std::string::npos) << r.out;
    ASSERT_EQ(map("update flows key saddr=10.9.9.9 value packets=7 bytes=7").status, 0);
    ASSERT_EQ(map("delete flows key saddr=10.9.9.9").status, 0);
    r = map("lookup flows key saddr=10.9.9.9");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("not found"), std::string::npos) << r.out;

    // The per-CPU totals: one slot per lcore and the sum.
    r = map("dump totals");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("value (lcore 0): {packets="), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("value (sum): {packets="), std::string::npos) << r.out;

    // A thousand CLI requests later the dataplane still forwards.
    for (int i = 0; i < 200; ++i) ASSERT_EQ(map("lookup flows " + std::string(kFlowKey)).status, 0);
    EXPECT_GT(rx(), rx0);
    before_stop = total_packets();
    ASSERT_EQ(d.stop(), 0) << d.log();
  }

  // Stopped: the files answer directly, with the same typed output.
  const uint64_t at_stop = total_packets();
  EXPECT_GE(at_stop, before_stop);
  json e = map_json(std::string("lookup flows ") + kFlowKey);
  EXPECT_EQ(e["formatted"]["value"]["packets"], 5) << e;
  ASSERT_EQ(map("update flows key saddr=10.0.0.7 value packets=70 bytes=700").status, 0);
  auto r = map("list");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("hash  name flows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pinned " + pin() + "/churn"), std::string::npos) << r.out;
  EXPECT_EQ(map("lookup id 3 key 0").status, 2);  // ids need a running dataplane
  for (const char* f : {"flows", "totals", "churn"}) {
    struct stat st {};
    ASSERT_EQ(stat((pin() + "/" + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }

  // Restarted: counting continues from where it stopped; both writes kept.
  Dataplane d(dir_, config_);
  ASSERT_TRUE(d.up()) << d.log();
  for (int i = 0; i < 100 && total_packets() <= at_stop; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(total_packets(), at_stop);
  e = map_json("lookup flows key saddr=10.0.0.7");
  EXPECT_EQ(e["formatted"]["value"]["bytes"], 700) << e;
  e = map_json(std::string("lookup flows ") + kFlowKey);
  EXPECT_EQ(e["formatted"]["value"]["bytes"], 300) << e;
}

TEST_F(MapCli, MismatchedPinIsRefusedNamingBothDefinitions) {
  fs::create_directories(pin());
  fs::permissions(pin(), fs::perms::owner_all);
  {
    skbpf::maps::PinRequest req;
    req.path = pin() + "/flows";
    req.def.name = "flows";
    req.def.type = BPF_MAP_TYPE_HASH;
    req.def.key_size = 16;
    req.def.value_size = 24;
    req.def.max_entries = 65536;
    req.object = "old.o";
    skbpf::maps::open_or_create_pinned(req);
  }
  auto r = run_tool("run " + config_ + " --pin-dir " + pin() + " --duration 1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(pin() + "/flows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hash key 16 value 24 max_entries 65536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hash key 16 value 16 max_entries 65536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("old.o"), std::string::npos) << r.out;
}

TEST_F(MapCli, KillNineUnderTrafficLeavesPinnedMapsWhole) {
  std::mt19937 rng(7);
  uint64_t last_total = 0;
  for (int round = 0; round < 4; ++round) {
    {
      Dataplane d(dir_, config_);
      ASSERT_TRUE(d.up()) << "round " << round << ": " << d.log();
      wait_for_traffic();
      // Every frame inserts, replaces or deletes in `churn`: kill it in the
      // middle of that.
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 300));
      ASSERT_EQ(d.stop(SIGKILL), -SIGKILL);
    }
    // Stopped: the files are opened (and repaired) by the CLI itself.
    const json churn = map_json("dump churn");
    ASSERT_TRUE(churn.is_array());
    ASSERT_GT(churn.size(), 0u);
    ASSERT_LE(churn.size(), 1024u);
    std::set<uint32_t> keys;
    for (const auto& e : churn) {
      const auto& f = e["formatted"];
      const uint64_t p = f["value"]["packets"], b = f["value"]["bytes"];
      ASSERT_EQ(b, p * 64) << "a torn value after SIGKILL, round " << round << ": " << e;
      ASSERT_TRUE(keys.insert(f["key"].get<uint32_t>()).second) << "key twice: " << e;
    }
    const uint64_t total = total_packets();
    EXPECT_GE(total, last_total);
    last_total = total;
  }
  // And the map still works in full after the last repair.
  Dataplane d(dir_, config_);
  ASSERT_TRUE(d.up()) << d.log();
  for (int i = 0; i < 100 && total_packets() <= last_total; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(total_packets(), last_total);
  ASSERT_EQ(map("update churn key 5000 value packets=1 bytes=64").status == 0 ||
                map("update churn key 5000 value packets=1 bytes=64").out.find("E2BIG") !=
                    std::string::npos,
            true);
  ASSERT_EQ(d.stop(), 0) << d.log();
}

TEST_F(MapCli, AnUnpinnedMapIsPinnedLive) {
  const std::string cfg = dir_ + "/fw.yaml";
  std::ofstream(cfg) << "ports:\n"
                        "  - {name: n0, ifindex: 2, device: net_null_mf0, next_hop: n1}\n"
                        "  - {name: n1, ifindex: 3, device: net_null_mf1, next_hop: n0}\n"
                        "programs:\n  n0:\n    ingress:\n      - {object: "
                     << kFw << ", program: fw, priority: 1}\n"
                     << "maps:\n  - object: " << kFw
                     << "\n    map: blocked\n    entries:\n"
                        "      - {key: 0a0000010a00000204d2005006000000, value: '01'}\n";
  {
    Dataplane d(dir_, cfg);
    ASSERT_TRUE(d.up()) << d.log();
    EXPECT_FALSE(fs::exists(pin() + "/blocked"));  // fw.o pins nothing
    auto r = map("pin blocked saved/blocked");
    EXPECT_EQ(r.status, 1) << r.out;  // no such directory: the dataplane refuses, naming it
    EXPECT_NE(r.out.find(pin() + "/saved/blocked: link: No such file"), std::string::npos) << r.out;
    r = map("pin blocked blocked");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(fs::exists(pin() + "/blocked"));
    ASSERT_EQ(d.stop(), 0);
  }
  const json d = map_json("dump pinned blocked");
  ASSERT_EQ(d.size(), 1u) << d;
  EXPECT_EQ(d[0]["formatted"]["key"]["saddr"], "10.0.0.1") << d;
  EXPECT_EQ(d[0]["formatted"]["key"]["sport"], 1234) << d;
}

TEST_F(MapCli, ErrorsNameWhatIsWrong) {
  fs::create_directories(pin());
  auto r = map("dump nosuch");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no map named 'nosuch'"), std::string::npos) << r.out;
  r = map("pin flows x");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("only a running dataplane"), std::string::npos) << r.out;
  r = map("dump");
  EXPECT_EQ(r.status, 2) << r.out;
  {
    Dataplane d(dir_, config_);
    ASSERT_TRUE(d.up()) << d.log();
    r = map("lookup flows key porto=6");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("no member \"porto\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("saddr, daddr, sport, dport, proto"), std::string::npos) << r.out;
    r = map("lookup flows key hex 0a00");
    EXPECT_EQ(r.status, 2) << r.out;
    r = map("update flows key saddr=1.2.3.300 value packets=1");
    EXPECT_EQ(r.status, 2) << r.out;
    r = map("lookup id 999 key 0");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("no map with id 999"), std::string::npos) << r.out;
    r = map("delete totals key 0");
    EXPECT_EQ(r.status, 1) << r.out;  // array elements cannot be deleted (EINVAL)
    EXPECT_TRUE(d.alive());
  }
}

}  // namespace
