// `skbpf trace` and per-filter run statistics against a running `skbpf
// run` (docs/control.md): trace_printk lines and perf_event_output records
// streamed as text and as JSON, run counts and times per filter with
// `skbpf prog stats on|off` and `skbpf run --prog-stats`, and a control
// socket fuzzed with every command while traffic flows.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
#include <vector>

#include "cli_run.h"

namespace {

using skbpf::testing::run_tool;
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kFw = std::string(SKBPF_PROGS_DIR) + "/fw.o";
const std::string kTrace = SKBPF_TRACE_DEMO_OBJ;

// A `skbpf run` of two net_null ports forwarding to each other: trace_demo
// on n0's ingress (the flattened one-filter path), next_filter then fw on
// n1's ingress (the general chain path).
class Dataplane {
 public:
  Dataplane(const std::string& tag, const std::vector<std::string>& extra = {}) {
    dir_ = (fs::temp_directory_path() / ("skbpf_trace_" + tag + std::to_string(getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    pin_ = dir_ + "/pin";
    const std::string cfg = dir_ + "/null.yaml";
    std::ofstream(cfg) << "ports:\n"
                          "  - {name: n0, ifindex: 2, device: net_null_t0, next_hop: n1}\n"
                          "  - {name: n1, ifindex: 3, device: net_null_t1, next_hop: n0}\n"
                          "programs:\n"
                          "  n0:\n    ingress:\n      - {object: "
                       << kTrace
                       << ", program: trace_demo, priority: 1}\n"
                          "  n1:\n    ingress:\n      - {object: "
                       << kTrace << ", program: next_filter, priority: 1}\n      - {object: " << kFw
                       << ", program: fw, priority: 2}\n";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      const std::string log = dir_ + "/run.out";
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f == nullptr || dup2(fileno(stdout), 2) < 0) _exit(127);
      std::vector<std::string> args = {SKBPF_TOOL, "run", cfg, "--json", "--pin-dir", pin_};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(SKBPF_TOOL, argv.data());
      _exit(127);
    }
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
  std::string socket() const { return pin_ + "/control.sock"; }
  // SIGTERM; the exit status (-1: killed by a signal) and the final report.
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
  std::string dir_, pin_, output_;
  pid_t pid_ = -1;
  bool up_ = false;
};

#define ASSERT_UP(d) \
  ASSERT_TRUE((d).up()) << "skbpf run did not answer on " << (d).socket() << "\n" << (d).log()

json stats(const Dataplane& d) {
  auto r = run_tool("stats --json " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  return r.status == 0 ? json::parse(r.out) : json();
}

uint64_t rx(const json& s) {
  return s.is_object() ? s["totals"]["rx_packets"].get<uint64_t>() : 0;
}

// `skbpf trace` as a child process whose stdout the test reads.
class Tracer {
 public:
  explicit Tracer(const std::string& args) {
    int p[2];
    if (pipe(p) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(p[1], 1);
      close(p[0]);
      close(p[1]);
      const std::string cmd = std::string(SKBPF_TOOL) + " trace " + args;
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(p[1]);
    fd_ = p[0];
  }
  ~Tracer() {
    if (pid_ > 0) stop();
    if (fd_ >= 0) close(fd_);
  }
  // The next line, or false after `seconds` without one or at EOF (a
  // bound so that a broken tracer fails the test instead of hanging it).
  bool line(std::string* out, int seconds = 30) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        *out = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      char b[65536];
      const ssize_t n = read(fd_, b, sizeof(b));
      if (n <= 0) return false;
      buf_.append(b, static_cast<size_t>(n));
    }
  }
  // Ctrl-C: exit status of the tracer. What it still writes is read (and
  // dropped) so that it is never stuck on a full pipe.
  int stop() {
    kill(pid_, SIGINT);
    char b[65536];
    while (read(fd_, b, sizeof(b)) > 0) {
    }
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
};

TEST(Trace, TextStreamHasPrintkLinesAndPerfRecords) {
  Dataplane d("text");
  ASSERT_UP(d);
  Tracer t(d.where());
  bool printk = false, perf = false;
  std::string line, seen;
  for (int i = 0; i < 100000 && !(printk && perf) && t.line(&line); ++i) {
    if (seen.size() < 2000) seen += line + "\n";
    // "[000] 123456789: bpf_trace_printk: trace_demo len=60"
    if (line.find("bpf_trace_printk: trace_demo len=") != std::string::npos) {
      EXPECT_EQ(line.rfind("[000] ", 0), 0u) << line;
      printk = true;
    }
    // "[000] 123456789: perf_event_output map=events size=8 data=0df0b95e3c000000"
    if (line.find("perf_event_output map=events size=8 data=0df0b95e") != std::string::npos)
      perf = true;
  }
  EXPECT_TRUE(printk) << seen;
  EXPECT_TRUE(perf) << seen;
  EXPECT_EQ(t.stop(), 0);
  // The tracer is gone: trace_printk writes to the dataplane's stderr again.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const json s1 = stats(d);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(rx(stats(d)), rx(s1));
  EXPECT_EQ(d.stop(), 0) << d.output();
  EXPECT_NE(d.output().find("bpf_trace_printk: trace_demo len="), std::string::npos)
      << d.output().substr(0, 2000);
}

TEST(Trace, JsonStream) {
  Dataplane d("json");
  ASSERT_UP(d);
  Tracer t("--json " + d.where());
  bool printk = false, perf = false;
  std::string line;
  for (int i = 0; i < 100000 && !(printk && perf) && t.line(&line); ++i) {
    const json j = json::parse(line);  // every line one JSON object
    ASSERT_TRUE(j.contains("type")) << line;
    if (j["type"] == "printk") {
      EXPECT_EQ(j["lcore"], 0) << line;
      EXPECT_GT(j["ts_ns"].get<uint64_t>(), 0u) << line;
      EXPECT_EQ(j["msg"].get<std::string>().rfind("trace_demo len=", 0), 0u) << line;
      printk = true;
    } else if (j["type"] == "perf") {
      EXPECT_EQ(j["map"], "events") << line;
      EXPECT_EQ(j["size"], 8) << line;
      EXPECT_EQ(j["data"].get<std::string>().substr(0, 8), "0df0b95e") << line;
      perf = true;
    } else {
      EXPECT_EQ(j["type"], "lost") << line;
      EXPECT_GT(j["lost"].get<uint64_t>(), 0u) << line;
    }
  }
  EXPECT_TRUE(printk);
  EXPECT_TRUE(perf);
  EXPECT_EQ(t.stop(), 0);
  EXPECT_EQ(d.stop(), 0) << d.output();
}

// A stream gets no replies to what is sent on it afterwards; two tracers
// get the same records.
TEST(Trace, StreamIgnoresFurtherRequestsAndFansOut) {
  Dataplane d("fan");
  ASSERT_UP(d);
  Tracer a(d.where()), b("--json " + d.where());
  std::string line;
  bool got_a = false, got_b = false;
  for (int i = 0; i < 100000 && !got_a && a.line(&line); ++i)
    got_a = line.find("trace_demo len=") != std::string::npos;
  for (int i = 0; i < 100000 && !got_b && b.line(&line); ++i)
    got_b = line.find("trace_demo len=") != std::string::npos;
  EXPECT_TRUE(got_a);
  EXPECT_TRUE(got_b);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, d.socket().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string reqs = "{\"cmd\":\"trace\",\"format\":\"json\"}\n{\"cmd\":\"stats\"}\n";
  ASSERT_EQ(send(fd, reqs.data(), reqs.size(), MSG_NOSIGNAL), static_cast<ssize_t>(reqs.size()));
  std::string in;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int records = 0;
  while (records < 5 && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    in.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = in.find('\n')) != std::string::npos) {
      const json j = json::parse(in.substr(0, nl));
      in.erase(0, nl + 1);
      if (j.contains("ok")) {
        EXPECT_TRUE(j.value("tracing", false)) << j.dump();  // the ack, not a stats reply
      } else {
        EXPECT_FALSE(j.contains("ports")) << j.dump();
        ++records;
      }
    }
  }
  EXPECT_GE(records, 5);
  close(fd);
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(b.stop(), 0);
  EXPECT_EQ(d.stop(), 0) << d.output();
}

// filter name -> {run_cnt, run_time_ns, avg_ns or -1}, from prog list --json.
struct FilterFigures {
  uint64_t runs = 0, ns = 0;
  double avg = -1;
};
std::map<std::string, FilterFigures> filters(const Dataplane& d, bool* stats_on = nullptr) {
  std::map<std::string, FilterFigures> m;
  auto r = run_tool("prog list --json " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  if (r.status != 0) return m;
  const json list = json::parse(r.out);
  if (stats_on != nullptr) *stats_on = list["prog_stats"].get<bool>();
  for (const auto& p : list["ports"]) {
    for (const char* hook : {"ingress", "egress"}) {
      for (const auto& f : p[hook]["filters"]) {
        FilterFigures x;
        x.runs = f["run_cnt"].get<uint64_t>();
        x.ns = f["run_time_ns"].get<uint64_t>();
        if (f["avg_ns"].is_number()) x.avg = f["avg_ns"].get<double>();
        m[p["name"].get<std::string>() + "/" + hook + "/" + f["program"].get<std::string>()] = x;
      }
    }
  }
  return m;
}

const char* const kFilters[] = {"n0/ingress/trace_demo", "n1/ingress/next_filter", "n1/ingress/fw"};

TEST(ProgStats, RunCountsAlwaysTimesOnlyWhenOn) {
  Dataplane d("stats");
  ASSERT_UP(d);
  // Off (the default): counts grow, no time is taken.
  bool on = true;
  auto a = filters(d, &on);
  EXPECT_FALSE(on);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto b = filters(d);
  for (const char* f : kFilters) {
    ASSERT_EQ(b.count(f), 1u) << f;
    EXPECT_GT(b[f].runs, a[f].runs) << f;
    EXPECT_EQ(b[f].ns, 0u) << f;
    EXPECT_EQ(b[f].avg, -1) << f;
  }
  // On: times grow with the counts.
  auto r = run_tool("prog stats on " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("prog stats on"), std::string::npos) << r.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto c = filters(d, &on);
  EXPECT_TRUE(on);
  for (const char* f : kFilters) {
    EXPECT_GT(c[f].runs, b[f].runs) << f;
    EXPECT_GT(c[f].ns, 0u) << f;
    EXPECT_GT(c[f].avg, 0) << f;
  }
  // Off again: the time stops, the counts do not.
  r = run_tool("prog stats off " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  auto e = filters(d);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto g = filters(d);
  for (const char* f : kFilters) {
    EXPECT_GT(g[f].runs, e[f].runs) << f;
    EXPECT_EQ(g[f].ns, e[f].ns) << f;
  }
  r = run_tool("prog list " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("trace_demo direct-action"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run_cnt "), std::string::npos) << r.out;
  r = run_tool("prog stats maybe " + d.where());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(d.stop(), 0) << d.output();
}

TEST(ProgStats, RunFlagTimesFromTheStart) {
  Dataplane d("flag", {"--prog-stats"});
  ASSERT_UP(d);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  bool on = false;
  auto m = filters(d, &on);
  EXPECT_TRUE(on);
  for (const char* f : kFilters) {
    EXPECT_GT(m[f].runs, 0u) << f;
    EXPECT_GT(m[f].ns, 0u) << f;
  }
  auto r = run_tool("prog stats " + d.where());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("prog stats on"), std::string::npos) << r.out;
  EXPECT_EQ(d.stop(), 0) << d.output();
}

// ---- the fuzzed socket -----------------------------------------------------

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
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Valid requests of every command (none that changes a chain: a replace
// names an object that does not exist, a detach a priority not in use).
const std::vector<std::string> kValid = {
    R"({"cmd":"stats"})",
    R"({"cmd":"prog.list"})",
    R"({"cmd":"prog.stats"})",
    R"({"cmd":"prog.stats","enable":true})",
    R"({"cmd":"prog.stats","enable":false})",
    R"({"cmd":"trace"})",
    R"({"cmd":"trace","format":"json"})",
    R"({"cmd":"prog.replace","port":"n0","hook":"ingress","priority":9,"object":"/nonexistent.o","program":"x"})",
    R"({"cmd":"prog.detach","port":"n0","hook":"egress","priority":4})",
};
const char* const kCmds[] = {"stats", "prog.list",    "prog.stats",
                             "trace", "prog.replace", "prog.detach"};
const char* const kKeys[] = {"port",    "hook",   "priority", "object",
                             "program", "enable", "format",   "direct_action"};

// A JSON value of a wrong or extreme kind.
std::string odd_value(std::mt19937& rng) {
  static const char* v[] = {"null",
                            "true",
                            "false",
                            "0",
                            "-1",
                            "1e308",
                            "-1e308",
                            "18446744073709551616",
                            "-9223372036854775809",
                            "99999999999999999999999999999999999999",
                            "1.5",
                            "\"\"",
                            "\"n0\"",
                            "\"ingress\"",
                            "\"json\"",
                            "[]",
                            "{}",
                            "[1,2,3]",
                            "{\"a\":{\"b\":[null]}}",
                            "\"\\u0000\"",
                            "\"\\ud800\""};
  return v[rng() % (sizeof(v) / sizeof(v[0]))];
}

std::string fuzz_case(std::mt19937& rng, int i) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::string s;
  switch (i % 8) {
    case 0: {  // random bytes (newlines included: several requests)
      const size_t n = pick(300);
      for (size_t k = 0; k < n; ++k) s += static_cast<char>(rng());
      break;
    }
    case 1: {  // a truncated valid request
      const std::string& v = kValid[pick(kValid.size())];
      s = v.substr(0, pick(v.size()));
      break;
    }
    case 2: {  // a valid request with bytes flipped, inserted or removed
      s = kValid[pick(kValid.size())];
      for (int k = 0, n = 1 + static_cast<int>(pick(4)); k < n && !s.empty(); ++k) {
        const size_t at = pick(s.size());
        switch (pick(3)) {
          case 0:
            s[at] = static_cast<char>(rng());
            break;
          case 1:
            s.insert(at, 1, static_cast<char>(rng()));
            break;
          default:
            s.erase(at, 1);
        }
      }
      break;
    }
    case 3: {  // every command with random keys of wrong types
      json j;
      s = std::string("{\"cmd\":\"") + kCmds[pick(6)] + "\"";
      for (int k = 0, n = static_cast<int>(pick(5)); k < n; ++k)
        s += std::string(",\"") + kKeys[pick(8)] + "\":" + odd_value(rng);
      s += "}";
      break;
    }
    case 4:  // a command that is not a string, or none
      s = "{\"cmd\":" + odd_value(rng) + "}";
      break;
    case 5: {                                // deep nesting, inside a request or alone
      const size_t depth = 1 + pick(32000);  // past 64 KiB too, at times
      const bool arrays = rng() % 2 == 0;
      std::string open, close;
      for (size_t k = 0; k < depth; ++k) {
        open += arrays ? "[" : "{\"a\":";
        close += arrays ? "]" : "}";
      }
      s = rng() % 2 == 0 ? open + "1" + close
                         : "{\"cmd\":\"" + std::string(kCmds[pick(6)]) + "\",\"x\":" + open + "1" +
                               (rng() % 4 == 0 ? "" : close) + "}";
      break;
    }
    case 6:  // a valid request with a missing field
      s = std::string("{\"cmd\":\"") + (rng() % 2 ? "prog.replace" : "prog.detach") +
          "\",\"port\":\"n0\"}";
      break;
    default:  // huge strings for keys and values
      s = "{\"cmd\":\"prog.detach\",\"port\":\"" + std::string(pick(60000), 'p') +
          "\",\"hook\":\"ingress\"}";
  }
  return s;
}

TEST(ControlFuzz, EveryCommandUnderTrafficWhileTracing) {
  Dataplane d("fuzz");
  ASSERT_UP(d);
  // A tracer stays subscribed through it all (the drain loop is busy).
  Tracer t("--json " + d.where());
  std::string line;
  ASSERT_TRUE(t.line(&line)) << "no trace record";
  std::mt19937 rng(20261202);
  int replies = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    const int fd = connect_to(d.socket());
    ASSERT_GE(fd, 0) << "case " << i << "; dataplane alive: " << d.alive();
    const std::string req = fuzz_case(rng, i);
    const bool half = rng() % 8 == 0;  // half a line, then close
    send_all(fd, half ? req.substr(0, req.size() / 2) : req + "\n");
    shutdown(fd, SHUT_WR);
    const std::string out = read_all(fd);
    close(fd);
    std::istringstream lines(out);
    while (std::getline(lines, line)) {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception&) {
        // A text trace record after a text trace request.
        const bool record = line.rfind("[0", 0) == 0 || line.rfind("lost ", 0) == 0;
        EXPECT_TRUE(record) << "case " << i << ": " << line.substr(0, 300);
        continue;
      }
      if (!j.contains("ok")) {
        EXPECT_TRUE(j.contains("type")) << line;  // a trace record after a trace request
        continue;
      }
      ++replies;
      if (!j["ok"].get<bool>()) {
        ++refused;
        EXPECT_TRUE(j["error"].is_string()) << line;
      }
    }
  }
  EXPECT_GT(refused, 1000);
  EXPECT_GT(replies, refused);
  // A 70 KiB line: an error, then the connection is closed.
  {
    const int fd = connect_to(d.socket());
    ASSERT_GE(fd, 0);
    send_all(fd, "{\"cmd\":\"trace\",\"pad\":\"" + std::string(70 * 1024, 'x') + "\"}\n");
    const std::string out = read_all(fd);
    close(fd);
    EXPECT_NE(out.find("longer than 65536 bytes"), std::string::npos) << out.substr(0, 200);
  }
  // Half a line left open does not block the others; forwarding goes on.
  const int idle = connect_to(d.socket());
  send_all(idle, "{\"cmd\":\"prog.stats\",\"enable\":");
  const uint64_t before = rx(stats(d));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(rx(stats(d)), before);
  close(idle);
  EXPECT_TRUE(d.alive());
  EXPECT_EQ(t.stop(), 0);
  json report;
  EXPECT_EQ(d.stop(&report), 0) << d.output().substr(0, 3000);
  EXPECT_EQ(report["totals"]["rx_packets"], report["totals"]["tx_packets"]) << report.dump();
}

}  // namespace
