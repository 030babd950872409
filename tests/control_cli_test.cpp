// The control socket (docs/control.md) against a running `skbpf run`:
// programs replaced under traffic through `skbpf prog replace` with no
// packet lost and none that missed a program; a fuzzed socket that never
// disturbs forwarding; refused requests (exit 1, chain unchanged); usage
// and connection errors (exit 2); the socket's permissions.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "cli_run.h"

namespace {

using skbpf::testing::run_tool;
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kFw = std::string(SKBPF_PROGS_DIR) + "/fw.o";
const std::string kSwitchProgs = SKBPF_SWITCH_PROGS_OBJ;
const std::string kBadPkt = std::string(SKBPF_VERIFIER_PROGS_DIR) + "/bad_pkt.o";

// A `skbpf run` of two net_null ports forwarding to each other (every frame
// received is sent: rx == tx when nothing is lost), fw on n0's ingress.
class Dataplane {
 public:
  explicit Dataplane(const std::string& tag) {
    dir_ = (fs::temp_directory_path() / ("skbpf_ctl_" + tag + std::to_string(getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    pin_ = dir_ + "/pin";
    cfg_ = dir_ + "/null.yaml";
    const std::string& cfg = cfg_;
    std::ofstream(cfg) << "ports:\n"
                          "  - {name: n0, ifindex: 2, device: net_null_c0, next_hop: n1}\n"
                          "  - {name: n1, ifindex: 3, device: net_null_c1, next_hop: n0}\n"
                          "programs:\n  n0:\n    ingress:\n      - {object: "
                       << kFw << ", program: fw, priority: 1}\n";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // no dataplane left running if the test dies
      const std::string log = dir_ + "/run.out";
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f == nullptr || dup2(fileno(stdout), 2) < 0) _exit(127);
      execl(SKBPF_TOOL, SKBPF_TOOL, "run", cfg.c_str(), "--json", "--pin-dir", pin_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Up when it answers.
    for (int i = 0; i < 300 && !up_ && alive(); ++i) {
      up_ = run_tool("stats --json " + where()).status == 0;
      if (!up_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~Dataplane() {
    if (pid_ > 0) stop();
    fs::remove_all(dir_);
  }
  bool up() const { return up_; }
  std::string log() const {
    std::ifstream in(dir_ + "/run.out");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string where() const { return "--pin-dir " + pin_; }
  const std::string& pin() const { return pin_; }
  const std::string& config() const { return cfg_; }
  std::string socket() const { return pin_ + "/control.sock"; }
  // SIGTERM; the exit status and the final --json report.
  int stop(json* report = nullptr) {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    std::ifstream in(dir_ + "/run.out");
    std::string line;
    while (std::getline(in, line)) {
      output_ += line + "\n";
      if (report != nullptr && !line.empty() && line[0] == '{') *report = json::parse(line);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  const std::string& output() const { return output_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  std::string dir_, pin_, cfg_, output_;
  pid_t pid_ = -1;
  bool up_ = false;
};

json stats(const Dataplane& d) {
  auto r = run_tool("stats --json " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  return r.status == 0 ? json::parse(r.out) : json();
}

uint64_t rx(const json& s) {
  return s.is_object() ? s["totals"]["rx_packets"].get<uint64_t>() : 0;
}

// "obj:prog@prio" per filter of n0's ingress, from `prog list --json`.
std::string n0_ingress(const Dataplane& d) {
  auto r = run_tool("prog list --json " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  if (r.status != 0) return "?";
  std::string s;
  const json list = json::parse(r.out);
  for (const auto& p : list["ports"]) {
    if (p["name"] != "n0") continue;
    for (const auto& f : p["ingress"]["filters"]) {
      s += (s.empty() ? "" : " ") + fs::path(f["object"].get<std::string>()).filename().string() +
           ":" + f["program"].get<std::string>() + "@" + std::to_string(f["priority"].get<int>());
    }
  }
  return s;
}

TEST(ControlCli, ReplaceUnderTrafficLosesNothing) {
  Dataplane d("swap");
  ASSERT_TRUE(d.up()) << "skbpf run did not answer on " << d.socket() << "\n" << d.log();
  EXPECT_EQ(n0_ingress(d), "fw.o:fw@1");
  uint64_t last = rx(stats(d));
  struct Step {
    std::string args, expect;
  };
  const Step steps[] = {
      {"n0 ingress 1 " + kSwitchProgs + ":f0", "switch_progs.o:f0@1"},
      {"n0 ingress 1 " + kSwitchProgs + ":f1", "switch_progs.o:f1@1"},
      {"n0 ingress 5 " + kFw + ":fw", "switch_progs.o:f1@1 fw.o:fw@5"},
      {"n0 ingress 3 " + kSwitchProgs + ":f2", "switch_progs.o:f1@1 switch_progs.o:f2@3 fw.o:fw@5"},
      {"n0 ingress 1 " + kFw + ":fw", "fw.o:fw@1 switch_progs.o:f2@3 fw.o:fw@5"},
      {"n1 egress 7 " + kSwitchProgs + ":f3", ""},
  };
  for (const Step& s : steps) {
    auto r = run_tool("prog replace " + s.args + " " + d.where());
    EXPECT_EQ(r.status, 0) << s.args << "\n" << r.out;
    if (!s.expect.empty()) {
      EXPECT_EQ(n0_ingress(d), s.expect) << s.args;
    }
    const uint64_t now = rx(stats(d));
    EXPECT_GT(now, last) << "forwarding stalled after " << s.args;
    last = now;
  }
  auto r = run_tool("prog detach n0 ingress 3 " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(n0_ingress(d), "fw.o:fw@1 fw.o:fw@5");
  r = run_tool("prog list " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("pref 7 switch_progs.o:f3 direct-action"), std::string::npos) << r.out;
  // Rates from two snapshots.
  r = run_tool("stats --watch 0.2 --count 2 --json " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const json w = json::parse(line);
    EXPECT_GT(w["ports"][0]["rx_pps"].get<double>(), 0) << line;
    EXPECT_EQ(w["lcores"].size(), 1u) << line;
    ++n;
  }
  EXPECT_EQ(n, 2) << r.out;

  json report;
  EXPECT_EQ(d.stop(&report), 0) << d.output();
  ASSERT_TRUE(report.contains("ports")) << d.output();
  // Nothing lost: every frame received was sent on (the next hops are the
  // other port), no drop of any kind, and every frame n0 received met a
  // program that said OK (none slipped through a swap as "no filter").
  EXPECT_EQ(report["totals"]["rx_packets"], report["totals"]["tx_packets"]) << report.dump();
  EXPECT_EQ(report["totals"]["dropped"], 0) << report.dump();
  const json& n0 = report["ports"][0];
  EXPECT_EQ(n0["ingress"]["verdicts"].size(), 1u) << n0.dump();
  EXPECT_EQ(n0["ingress"]["verdicts"]["ok"], n0["rx_packets"]) << n0.dump();
  EXPECT_GT(n0["rx_packets"].get<uint64_t>(), 0u);
}

// A raw connection to the socket; empty when it cannot connect.
int connect_to(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void send_all(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close an oversized request early
    off += static_cast<size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string fuzz_case(std::mt19937& rng, int i) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  static const char* valid[] = {
      R"({"cmd":"stats"})",
      R"({"cmd":"prog.list"})",
      R"({"cmd":"prog.replace","port":"n0","hook":"ingress","priority":9,"object":"/nonexistent.o","program":"x"})",
      R"({"cmd":"prog.detach","port":"n0","hook":"egress","priority":4})",
  };
  static const char* wrong[] = {
      "{}",
      "[]",
      "null",
      "1",
      "\"stats\"",
      R"({"cmd":5})",
      R"({"cmd":null})",
      R"({"cmd":"prog.replace","port":[],"hook":{},"priority":"1","object":1,"program":false})",
      R"({"cmd":"prog.replace","port":"n0","hook":"sideways","priority":1,"object":"a","program":"b"})",
      R"({"cmd":"prog.replace","port":"n0","hook":"ingress","priority":70000,"object":"a","program":"b"})",
      R"({"cmd":"prog.replace","port":"n0","hook":"ingress","priority":-1,"object":"a","program":"b"})",
      R"({"cmd":"prog.replace","port":"n0","hook":"ingress","priority":1.5,"object":"a","program":"b"})",
      R"({"cmd":"prog.detach","port":"nope","hook":"ingress"})",
      R"({"cmd":"prog.detach","port":"n0","hook":"ingress","priority":true})",
      R"({"cmd":"stats","extra":{"deep":[[[[[[[[[[1]]]]]]]]]]}})",
      R"({"cmd":"rm -rf"})",
      "{\"cmd\":\"st\xff\xfe\"}",
  };
  std::string s;
  switch (i % 6) {
    case 0: {  // random bytes
      const size_t n = pick(200);
      for (size_t k = 0; k < n; ++k) s += static_cast<char>(rng());
      break;
    }
    case 1: {  // a truncated valid request
      const std::string v = valid[pick(4)];
      s = v.substr(0, pick(v.size()));
      break;
    }
    case 2:  // wrong types and values
      s = wrong[pick(sizeof(wrong) / sizeof(wrong[0]))];
      break;
    case 3: {  // a valid request with a byte flipped
      s = valid[pick(4)];
      s[pick(s.size())] = static_cast<char>(rng());
      break;
    }
    case 4:  // deep nesting
      s = std::string(1 + pick(5000), '[');
      break;
    default:  // valid (the dataplane must still answer those)
      s = valid[pick(4)];
  }
  return s;
}

TEST(ControlCli, FuzzedSocketNeverDisturbsForwarding) {
  Dataplane d("fuzz");
  ASSERT_TRUE(d.up()) << "skbpf run did not answer on " << d.socket() << "\n" << d.log();
  std::mt19937 rng(20261202);
  int replies = 0, refused = 0;
  for (int i = 0; i < 2000; ++i) {
    const int fd = connect_to(d.socket());
    ASSERT_GE(fd, 0) << "case " << i;
    const std::string req = fuzz_case(rng, i);
    const bool mid_request = rng() % 8 == 0;  // close before the newline
    send_all(fd, mid_request ? req : req + "\n");
    shutdown(fd, SHUT_WR);
    const std::string out = read_all(fd);
    close(fd);
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      const json j = json::parse(line);  // every reply is one JSON object a line
      ASSERT_TRUE(j.contains("ok")) << line;
      ++replies;
      if (!j["ok"].get<bool>()) {
        ++refused;
        EXPECT_TRUE(j["error"].is_string()) << line;
      }
    }
  }
  EXPECT_GT(refused, 500);
  EXPECT_GT(replies, refused);
  // Oversized: an error reply, then the connection is closed.
  {
    const int fd = connect_to(d.socket());
    ASSERT_GE(fd, 0);
    send_all(fd, "{\"cmd\":\"stats\",\"pad\":\"" + std::string(70 * 1024, 'x') + "\"}\n");
    const std::string out = read_all(fd);
    close(fd);
    EXPECT_NE(out.find("longer than 65536 bytes"), std::string::npos) << out.substr(0, 200);
  }
  // Connections left open mid-request do not block the others.
  const int idle = connect_to(d.socket());
  send_all(idle, "{\"cmd\":");
  const uint64_t before = rx(stats(d));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(rx(stats(d)), before);
  EXPECT_EQ(n0_ingress(d), "fw.o:fw@1");
  close(idle);
  json report;
  EXPECT_EQ(d.stop(&report), 0) << d.output();
  EXPECT_EQ(report["totals"]["rx_packets"], report["totals"]["tx_packets"]) << report.dump();
}

TEST(ControlCli, RefusedRequestsChangeNothing) {
  Dataplane d("err");
  ASSERT_TRUE(d.up()) << "skbpf run did not answer on " << d.socket() << "\n" << d.log();
  auto r = run_tool("prog replace n0 ingress 1 /nonexistent.o:fw " + d.where());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("/nonexistent.o"), std::string::npos) << r.out;
  r = run_tool("prog replace n0 ingress 1 " + kBadPkt + ":bad_pkt " + d.where());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("invalid access to packet"), std::string::npos) << r.out;
  r = run_tool("prog replace n0 ingress 1 " + kFw + ":nosuchprog " + d.where());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("nosuchprog"), std::string::npos) << r.out;
  EXPECT_EQ(n0_ingress(d), "fw.o:fw@1");
  r = run_tool("prog replace eth9 ingress 1 " + kFw + ":fw " + d.where());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no port named 'eth9'"), std::string::npos) << r.out;
  r = run_tool("prog detach n0 ingress 4 " + d.where());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no filter with priority 4"), std::string::npos) << r.out;
  r = run_tool("prog replace n0 sideways 1 " + kFw + ":fw " + d.where());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("sideways"), std::string::npos) << r.out;
  r = run_tool("prog replace n0 ingress 1 nocolon " + d.where());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(n0_ingress(d), "fw.o:fw@1");

  // Another dataplane on the same pin directory is refused (exit 2).
  r = run_tool("run " + d.config() + " --duration 1 --pin-dir " + d.pin());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("another dataplane is listening on " + d.socket()), std::string::npos)
      << r.out;
  EXPECT_TRUE(d.alive());
  EXPECT_EQ(d.stop(), 0) << d.output();
  EXPECT_FALSE(fs::exists(d.socket())) << "the socket is removed at exit";
}

TEST(ControlCli, NoDataplaneExits2NamingTheSocket) {
  const std::string dir = fs::temp_directory_path() / ("skbpf_ctl_none" + std::to_string(getpid()));
  auto r = run_tool("stats --pin-dir " + dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(dir + "/control.sock"), std::string::npos) << r.out;
  r = run_tool("prog list --pin-dir " + dir);
  EXPECT_EQ(r.status, 2) << r.out;
}

// Raises CAP_DAC_OVERRIDE in the effective set (kept across setuid by
// PR_SET_KEEPCAPS) so that a non-root uid can reach the 0600 socket and
// the server's own SO_PEERCRED check is what refuses it.
bool raise_dac_override() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  data[0].effective |= 1u << CAP_DAC_OVERRIDE;
  return syscall(SYS_capset, &hdr, data) == 0;
}

TEST(ControlCli, SocketIsPrivateAndOtherUsersAreRefused) {
  Dataplane d("perm");
  ASSERT_TRUE(d.up()) << "skbpf run did not answer on " << d.socket() << "\n" << d.log();
  struct stat st {};
  ASSERT_EQ(stat(d.pin().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(d.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (geteuid() != 0) GTEST_SKIP() << "connecting as another user needs root (setuid to nobody)";
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(pipefd[0]);
    std::string msg;
    if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      msg = "setuid failed";
    } else {
      const bool dac = raise_dac_override();
      const int fd = connect_to(d.socket());
      if (fd < 0) {
        msg = std::string(dac ? "dac:" : "nodac:") + "connect failed: " + std::strerror(errno);
      } else {
        send_all(fd, "{\"cmd\":\"stats\"}\n");
        msg = read_all(fd);
        close(fd);
      }
    }
    if (write(pipefd[1], msg.data(), msg.size()) < 0) _exit(1);
    _exit(0);
  }
  close(pipefd[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof(buf))) > 0;) msg.append(buf, n);
  close(pipefd[0]);
  waitpid(child, nullptr, 0);
  std::printf("a connection as uid 65534 got: %s\n", msg.c_str());
  if (msg.rfind("nodac:", 0) == 0) {
    // Without the capability the file mode alone keeps it out.
    EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
  } else {
    EXPECT_NE(msg.find("\"error\":\"permission denied\""), std::string::npos) << msg;
  }
  EXPECT_GT(rx(stats(d)), 0u);
  EXPECT_EQ(d.stop(), 0) << d.output();
}

}  // namespace
