// `skbpf run` with real peers (issue 7): two network namespaces, each with a
// veth pair whose other end stays in the root namespace; the switch drives
// the two root-side ends with net_af_packet and forwards between them. The
// namespaces' own kernels are the peers: ARP and ping, a TCP transfer
// (python's http.server and curl), the example firewall (progs/fw.c)
// dropping exactly one 5-tuple, and the DPDK telemetry commands read with
// dpdk-telemetry.py while the switch runs.
//
// Needs root and `ip netns`; skipped, saying why, without them.
// Everything made here (namespaces, veths, processes, files) is undone in
// TearDown, whatever failed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kTelemetry = "/usr/bin/dpdk-telemetry.py";
const char* const kPython = "/usr/bin/python3";
const char* const kAddrA = "10.199.0.1";
const char* const kAddrB = "10.199.0.2";
const int kHttpPort = 18080;
const int kBlockedPort = 40000;  // curl's local port for the blocked flow
const int kOtherPort = 40001;    // the same flow from another port: must pass

struct ShellResult {
  int status = -1;  // exit status, -1 if killed by a signal
  std::string out;  // stdout and stderr
};

// Runs a shell command line (all arguments are made by this file: names
// with the pid, fixed addresses, temp paths without spaces).
ShellResult sh(const std::string& cmd) {
  ShellResult r;
  std::FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) r.out += buf;
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Sets one legacy ethtool flag (ETHTOOL_STXCSUM, ...) on an interface of
// this process's namespace. veth offloads checksums and segmentation by
// default: frames leave the namespace CHECKSUM_PARTIAL (an AF_PACKET
// socket sees them with the TCP checksum not filled in) and as 64 KB GSO
// super-frames (larger than af_packet's 2 KB ring frames). A real NIC
// would put correct, MTU-sized frames on the wire; turning the offloads
// off makes the namespace's kernel do the same.
bool ethtool_set(const std::string& ifname, uint32_t cmd, uint32_t value, std::string* err) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  ethtool_value ev{};
  ev.cmd = cmd;
  ev.data = value;
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  const int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  const int e = errno;
  close(fd);
  if (rc != 0) *err = "SIOCETHTOOL on " + ifname + ": " + std::strerror(e);
  return rc == 0;
}

// ICMP echo from inside network namespace `ns` to `dst`, as `ping -c COUNT
// -W WAIT` would do it (this machine has no ping binary): COUNT requests,
// each waiting up to WAIT seconds for its reply. Returns the number of
// replies, or -1 with `err` set when the namespace or socket fails.
int icmp_echo(const std::string& ns, const char* dst, int count, int wait_s, std::string* err) {
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) {
    *err = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    // The child alone enters the namespace; its result goes through the pipe.
    close(pipe_fd[0]);
    auto finish = [&](const std::string& msg) {
      const ssize_t n = write(pipe_fd[1], msg.data(), msg.size());
      _exit(n < 0 ? 2 : 0);
    };
    const int nsfd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
      finish(std::string("error: enter namespace ") + ns + ": " + std::strerror(errno));
    const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) finish(std::string("error: raw ICMP socket: ") + std::strerror(errno));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, dst, &to.sin_addr);
    const uint16_t id = static_cast<uint16_t>(getpid());
    int replies = 0;
    for (int seq = 1; seq <= count; ++seq) {
      uint8_t req[64] = {};
      icmphdr* h = reinterpret_cast<icmphdr*>(req);
      h->type = ICMP_ECHO;
      h->un.echo.id = htons(id);
      h->un.echo.sequence = htons(static_cast<uint16_t>(seq));
      for (size_t i = sizeof(icmphdr); i < sizeof(req); ++i) req[i] = static_cast<uint8_t>(i);
      uint32_t sum = 0;
      for (size_t i = 0; i < sizeof(req); i += 2) sum += (req[i] << 8) | req[i + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      h->checksum = htons(static_cast<uint16_t>(~sum));
      if (sendto(fd, req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0)
        finish(std::string("error: sendto: ") + std::strerror(errno));
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        uint8_t buf[1500];
        const ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < static_cast<ssize_t>(sizeof(iphdr))) continue;
        const size_t ihl = (buf[0] & 0x0f) * 4u;  // a raw socket gets the IP header too
        if (static_cast<size_t>(n) < ihl + sizeof(icmphdr)) continue;
        const icmphdr* r = reinterpret_cast<const icmphdr*>(buf + ihl);
        if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == id &&
            ntohs(r->un.echo.sequence) == seq) {
          ++replies;
          break;
        }
      }
    }
    finish(std::to_string(replies));
  }
  close(pipe_fd[1]);
  if (pid < 0) {
    close(pipe_fd[0]);
    *err = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  std::string msg;
  char buf[256];
  for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof(buf))) > 0;) msg.append(buf, n);
  close(pipe_fd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (msg.empty() || msg.rfind("error: ", 0) == 0) {
    *err = msg.empty() ? "the ping child died" : msg.substr(7);
    return -1;
  }
  return std::stoi(msg);
}

// A background process with stdout and stderr in files.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(SIGKILL); }

  bool start(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
    out_ = out;
    err_ = err;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      std::FILE* o = std::freopen(out.c_str(), "w", stdout);
      std::FILE* e = std::freopen(err.c_str(), "w", stderr);
      if (o == nullptr || e == nullptr) _exit(126);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      _exit(127);
    }
    return true;
  }

  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == 0) return true;
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }

  // Waits until `needle` appears in the process's stdout or stderr file;
  // false if the process ends or `seconds` pass first.
  bool wait_for_output(const std::string& needle, int seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (output().find(needle) != std::string::npos) return true;
      if (!running()) return output().find(needle) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Sends `sig` and waits up to 20 s for the process to end, then kills it.
  // Returns its exit status (128 + signal when a signal ended it).
  int stop(int sig) {
    if (running()) {
      kill(pid_, sig);
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (running() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (running()) {
        kill(pid_, SIGKILL);
        int st = 0;
        waitpid(pid_, &st, 0);
        pid_ = -1;
        status_ = 128 + SIGKILL;
      }
    }
    return status_;
  }

  std::string stdout_text() const { return read_file(out_); }
  std::string stderr_text() const { return read_file(err_); }
  std::string output() const { return stdout_text() + stderr_text(); }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  fs::path out_, err_;
};

// The last line of `text` that is a JSON object (DPDK's own log lines go to
// stdout too).
std::optional<json> last_json_line(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::optional<json> found;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) found = std::move(j);
  }
  return found;
}

const json* find_port(const json& report, const std::string& name) {
  if (!report.contains("ports")) return nullptr;
  for (const json& p : report["ports"]) {
    if (p.value("name", "") == name) return &p;
  }
  return nullptr;
}

uint64_t verdict_count(const json& port, const std::string& hook, const std::string& verdict) {
  if (!port.contains(hook) || !port[hook].contains("verdicts")) return 0;
  return port[hook]["verdicts"].value(verdict, uint64_t{0});
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, veth, af_packet)";
    static int instance = 0;
    const std::string tag = std::to_string(getpid()) + "-" + std::to_string(instance);
    const std::string short_tag = std::to_string(getpid()) + std::to_string(instance);
    ++instance;
    ns_a_ = "skbpf-" + tag + "-a";
    ns_b_ = "skbpf-" + tag + "-b";
    // Interface names have at most 15 characters: pid (7) + instance.
    in_a_ = "skn" + short_tag + "a";
    in_b_ = "skn" + short_tag + "b";
    root_a_ = "skr" + short_tag + "a";
    root_b_ = "skr" + short_tag + "b";

    const ShellResult add = sh("ip netns add " + ns_a_);
    if (add.status != 0) GTEST_SKIP() << "`ip netns add` failed: " << add.out;
    made_a_ = true;
    ASSERT_EQ(run("ip netns add " + ns_b_), 0);
    made_b_ = true;

    char tmpl[] = "/tmp/skbpf-netns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;

    ASSERT_NO_FATAL_FAILURE(make_side(ns_a_, in_a_, root_a_, std::string(kAddrA) + "/24"));
    ASSERT_NO_FATAL_FAILURE(make_side(ns_b_, in_b_, root_b_, std::string(kAddrB) + "/24"));

    // A ~1 MB file of pseudo-random bytes for the TCP transfer.
    fs::create_directories(dir_ / "www");
    std::mt19937 rng(7);
    file_.resize(1 << 20);
    for (char& c : file_) c = static_cast<char>(rng());
    std::ofstream(dir_ / "www" / "file", std::ios::binary) << file_;
  }

  void TearDown() override {
    http_.stop(SIGKILL);
    skbpf_.stop(SIGKILL);
    // Deleting a root-side end deletes its pair at once; the namespace
    // itself is torn down asynchronously by the kernel.
    if (!root_a_.empty()) sh("ip link del " + root_a_);
    if (!root_b_.empty()) sh("ip link del " + root_b_);
    if (made_a_) sh("ip netns del " + ns_a_);
    if (made_b_) sh("ip netns del " + ns_b_);
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    // DPDK leaves its runtime directory (/var/run/dpdk/PREFIX for root:
    // config, fbarrays, sockets) behind at exit; the switch has ended here.
    for (const std::string& prefix : prefixes_) {
      std::error_code ec;
      fs::remove_all(fs::path("/var/run/dpdk") / prefix, ec);
    }
  }

  // Runs a command line; on failure records it with its output.
  int run(const std::string& cmd) {
    const ShellResult r = sh(cmd);
    if (r.status != 0) ADD_FAILURE() << "`" << cmd << "` exited " << r.status << ":\n" << r.out;
    return r.status;
  }

  void make_side(const std::string& ns, const std::string& inner, const std::string& outer,
                 const std::string& addr) {
    ASSERT_EQ(run("ip link add " + inner + " type veth peer name " + outer), 0);
    std::string err;
    for (const std::string& dev : {inner, outer}) {
      for (uint32_t cmd : {ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO}) {
        ASSERT_TRUE(ethtool_set(dev, cmd, 0, &err)) << err;
      }
    }
    // No IPv6 on the switch's side (router solicitations and MLD reports
    // would only add noise to the counters); the file is absent without IPv6.
    std::ofstream("/proc/sys/net/ipv6/conf/" + outer + "/disable_ipv6") << "1\n";
    ASSERT_EQ(run("ip link set dev " + outer + " up"), 0);
    // The namespace's defaults apply to the veth when it arrives there.
    sh("ip netns exec " + ns + " sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'");
    ASSERT_EQ(run("ip link set dev " + inner + " netns " + ns), 0);
    ASSERT_EQ(run("ip -n " + ns + " addr add " + addr + " dev " + inner), 0);
    ASSERT_EQ(run("ip -n " + ns + " link set dev " + inner + " up"), 0);
    ASSERT_EQ(run("ip -n " + ns + " link set dev lo up"), 0);
  }

  // The switch: port pa on A's root-side veth, pb on B's, each the other's
  // next hop; `extra` is appended (programs, maps).
  std::string config(const std::string& extra) const {
    return fmt::format(R"(ports:
  - name: pa
    ifindex: 10
    device: "net_af_packet0,iface={},qpairs=1"
    next_hop: pb
  - name: pb
    ifindex: 11
    device: "net_af_packet1,iface={},qpairs=1"
    next_hop: pa
)",
                       root_a_, root_b_) +
           extra;
  }

  // Starts `skbpf run` on `yaml` and waits for its start line; returns the
  // EAL file prefix it printed.
  std::string start_switch(const std::string& name, const std::string& yaml) {
    const fs::path cfg = dir_ / (name + ".yaml");
    std::ofstream(cfg) << yaml;
    EXPECT_TRUE(skbpf_.start({SKBPF_TOOL, "run", cfg.string(), "--duration", "60", "--json",
                              "--pin-dir", cfg.string() + ".pin"},
                             dir_ / (name + ".out"), dir_ / (name + ".err")));
    if (!skbpf_.wait_for_output("EAL file prefix", 60)) {
      ADD_FAILURE() << "skbpf run did not start (" << (skbpf_.running() ? "still running" : "ended")
                    << "); config:\n"
                    << yaml << "output:\n"
                    << skbpf_.output();
      return "";
    }
    const std::string err = skbpf_.stderr_text();
    const std::string tag = "EAL file prefix ";
    const size_t at = err.find(tag);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no file prefix in: " << err;
      return "";
    }
    const size_t from = at + tag.size();
    const std::string prefix = err.substr(from, err.find_first_of(" \n", from) - from);
    prefixes_.push_back(prefix);
    return prefix;
  }

  // Stops the switch with SIGINT and returns its final JSON report.
  json stop_switch() {
    const int status = skbpf_.stop(SIGINT);
    const std::string out = skbpf_.stdout_text();
    EXPECT_EQ(status, 0) << "skbpf run exited " << status << "; stdout:\n"
                         << out << "stderr:\n"
                         << skbpf_.stderr_text();
    std::optional<json> j = last_json_line(out);
    if (!j) {
      ADD_FAILURE() << "no JSON report on stdout:\n" << out << "stderr:\n" << skbpf_.stderr_text();
      return json::object();
    }
    return *j;
  }

  void start_http() {
    ASSERT_TRUE(http_.start(
        {"ip", "netns", "exec", ns_b_, kPython, "-u", "-m", "http.server",
         std::to_string(kHttpPort), "--bind", kAddrB, "--directory", (dir_ / "www").string()},
        dir_ / "http.out", dir_ / "http.err"));
    ASSERT_TRUE(http_.wait_for_output("Serving HTTP", 30)) << "http.server did not start:\n"
                                                           << http_.output();
  }

  // curl in namespace A from `local_port`; the status curl exited with.
  ShellResult curl(int local_port, int max_time, const fs::path& out) {
    return sh("ip netns exec " + ns_a_ + " curl -s -S --max-time " + std::to_string(max_time) +
              " --local-port " + std::to_string(local_port) + " -o " + out.string() + " http://" +
              kAddrB + ":" + std::to_string(kHttpPort) + "/file");
  }

  // a) 3 echo requests from A to B, 2 s each, as `ping -c 3 -W 2`:
  // at least one reply (ARP goes through the switch first).
  void expect_ping() {
    std::string err;
    const int replies = icmp_echo(ns_a_, kAddrB, 3, 2, &err);
    EXPECT_GE(replies, 0) << err;
    EXPECT_GT(replies, 0) << "no ICMP echo reply from " << kAddrB << " in " << ns_b_ << " to "
                          << ns_a_ << " through the switch";
  }

  std::string ns_a_, ns_b_, in_a_, in_b_, root_a_, root_b_;
  bool made_a_ = false, made_b_ = false;
  fs::path dir_;
  std::string file_;
  Child skbpf_, http_;
  std::vector<std::string> prefixes_;  // EAL file prefixes of the switches run
};

// a) ping (ARP included), b) a 1 MB HTTP transfer, d) telemetry.
TEST_F(NetnsTest, ForwardsPingTcpAndAnswersTelemetry) {
  ASSERT_EQ(access(kTelemetry, X_OK), 0)
      << kTelemetry << " is missing (Debian package dpdk-dev): run scripts/setup.sh";
  ASSERT_NO_FATAL_FAILURE(start_http());
  const std::string prefix = start_switch("forward", config(""));
  ASSERT_FALSE(prefix.empty());

  expect_ping();

  const fs::path got = dir_ / "got";
  const ShellResult c = curl(kBlockedPort, 10, got);
  EXPECT_EQ(c.status, 0) << "curl through the switch:\n" << c.out;
  EXPECT_TRUE(read_file(got) == file_) << "the transferred file differs: " << read_file(got).size()
                                       << " bytes received, " << file_.size() << " sent";

  // dpdk-telemetry.py reads one command a line from stdin when it is not a
  // terminal and prints one JSON object a line per reply.
  const ShellResult t = sh("printf '/skbpf/ports\\n/skbpf/port,pa\\n/skbpf/port,pb\\n' | " +
                           std::string(kTelemetry) + " -f " + prefix);
  EXPECT_EQ(t.status, 0) << t.out;
  std::vector<json> replies;
  std::istringstream in(t.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') replies.push_back(json::parse(line, nullptr, false));
  }
  ASSERT_EQ(replies.size(), 3u) << "dpdk-telemetry.py -f " << prefix << ":\n" << t.out;
  for (const json& r : replies) ASSERT_TRUE(r.is_object()) << t.out;
  EXPECT_EQ(replies[0].value("/skbpf/ports", json()), json({"pa", "pb"})) << t.out;
  for (size_t i = 1; i < 3; ++i) {
    const json port = replies[i].value("/skbpf/port", json());
    ASSERT_TRUE(port.is_object()) << t.out;
    EXPECT_GT(port.value("rx_packets", uint64_t{0}), 0u) << t.out;
  }

  const json report = stop_switch();
  for (const char* name : {"pa", "pb"}) {
    const json* p = find_port(report, name);
    ASSERT_NE(p, nullptr) << name << " missing in " << report.dump();
    EXPECT_GT(p->value("rx_packets", uint64_t{0}), 0u) << report.dump();
    EXPECT_GT(p->value("tx_packets", uint64_t{0}), 0u) << report.dump();
  }
}

// c) progs/fw.o on pa's ingress blocks 10.199.0.1:40000 -> 10.199.0.2:18080
// TCP only: that curl fails, the same request from port 40001 and ping pass,
// and the report counts the shot frames.
TEST_F(NetnsTest, FirewallDropsTheBlockedFlowOnly) {
  const std::string fw = std::string(SKBPF_PROGS_DIR) + "/fw.o";
  // struct five_tuple of progs/fw.c, network byte order: saddr, daddr,
  // sport, dport, proto, 3 bytes of padding.
  const std::string key =
      "0ac700010ac70002"
      "9c40"
      "46a0"
      "06"
      "000000";
  static_assert(kBlockedPort == 0x9c40 && kHttpPort == 0x46a0);
  const std::string extra = fmt::format(R"(programs:
  pa:
    ingress:
      - {{object: {fw}, program: fw}}
maps:
  - object: {fw}
    map: blocked
    entries:
      - {{key: "{key}", value: "01"}}
)",
                                        fmt::arg("fw", fw), fmt::arg("key", key));
  ASSERT_NO_FATAL_FAILURE(start_http());
  ASSERT_FALSE(start_switch("firewall", config(extra)).empty());

  const ShellResult blocked = curl(kBlockedPort, 5, dir_ / "blocked");
  EXPECT_NE(blocked.status, 0) << "curl from port " << kBlockedPort
                               << " got through the firewall:\n"
                               << blocked.out;
  const ShellResult other = curl(kOtherPort, 10, dir_ / "other");
  EXPECT_EQ(other.status, 0) << "curl from port " << kOtherPort << ":\n" << other.out;
  EXPECT_TRUE(read_file(dir_ / "other") == file_);
  expect_ping();

  const json report = stop_switch();
  const json* pa = find_port(report, "pa");
  ASSERT_NE(pa, nullptr) << report.dump();
  EXPECT_GT(verdict_count(*pa, "ingress", "shot"), 0u) << report.dump();
  EXPECT_GT(verdict_count(*pa, "ingress", "ok"), 0u) << report.dump();
}

}  // namespace
