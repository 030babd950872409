// The control socket's server (see control.h, docs/control.md).
#include "skbpf/dataplane/control.h"

#include "control_maps.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "control_trace.h"

namespace skbpf::dataplane {
namespace {

using json = nlohmann::ordered_json;

// Connections served at once; more are answered with an error and closed.
constexpr size_t kMaxClients = 64;
// A peer that does not read its replies is not read from past this.
constexpr size_t kMaxPendingOut = 1 << 20;

std::string errno_text(int e) {
  return std::strerror(e);
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path))
    throw std::runtime_error(fmt::format("control socket path {} is longer than {} bytes", path,
                                         sizeof(a.sun_path) - 1));
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Whether a process accepts connections on the socket at `path`.
bool someone_listens(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un a = address_of(path);
  const bool up = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return up;
}

std::string error_reply(const std::string& what) {
  json j;
  j["ok"] = false;
  j["error"] = what;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Hook hook_of(const json& req) {
  const auto it = req.find("hook");
  if (it == req.end() || !it->is_string())
    throw std::invalid_argument("'hook' must be \"ingress\" or \"egress\"");
  const std::string h = it->get<std::string>();
  if (h == "ingress") return kIngress;
  if (h == "egress") return kEgress;
  throw std::invalid_argument("'hook' must be \"ingress\" or \"egress\", not \"" + h + "\"");
}

std::string string_of(const json& req, const char* key) {
  const auto it = req.find(key);
  if (it == req.end() || !it->is_string() || it->get<std::string>().empty())
    throw std::invalid_argument(fmt::format("'{}' must be a non-empty string", key));
  return it->get<std::string>();
}

// A tc priority (1..65535), or -1 when absent and `optional`.
int64_t priority_of(const json& req, bool optional) {
  const auto it = req.find("priority");
  if (it == req.end() && optional) return -1;
  if (it == req.end() || !it->is_number_integer() || it->get<int64_t>() < 1 ||
      it->get<int64_t>() > 65535)
    throw std::invalid_argument("'priority' must be an integer from 1 to 65535");
  return it->get<int64_t>();
}

const Port& port_of(const Switch& sw, const json& req) {
  const std::string name = string_of(req, "port");
  for (const auto& p : sw.pipeline().ports) {
    if (p->name == name) return *p;
  }
  std::string names;
  for (const auto& p : sw.pipeline().ports) names += (names.empty() ? "" : ", ") + p->name;
  throw std::invalid_argument(fmt::format("no port named '{}' (ports: {})", name, names));
}

json filter_json(const config::FilterConfig& f) {
  json o;
  o["priority"] = f.priority;
  o["object"] = f.object;
  o["program"] = f.program;
  o["direct_action"] = f.direct_action;
  if (f.classid != 0) o["classid"] = f.classid;
  if (!f.actions.empty()) o["actions"] = f.actions.size();
  return o;
}

}  // namespace

std::vector<std::string> pin_dir_candidates(const std::string& instance) {
  std::vector<std::string> dirs = {"/run/skbpf/" + instance};
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && x[0] == '/')
    dirs.push_back(std::string(x) + "/skbpf/" + instance);
  dirs.push_back(fmt::format("/tmp/skbpf-{}/{}", ::geteuid(), instance));
  return dirs;
}

void make_private_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path p(dir);
  std::error_code ec;
  if (p.has_parent_path() && p.parent_path() != p) {
    fs::create_directories(p.parent_path(), ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("cannot create {}: {}", p.parent_path().string(), ec.message()));
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error(fmt::format("cannot create {}: {}", dir, errno_text(errno)));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("cannot stat {}: {}", dir, errno_text(errno)));
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(dir + " exists and is not a directory");
  // Someone else's directory (e.g. a /tmp path made by another user) would
  // let them replace our socket: refuse it.
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    throw std::runtime_error(fmt::format("{} belongs to uid {}, not to this user", dir, st.st_uid));
  if ((st.st_mode & 0077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    throw std::runtime_error(fmt::format("cannot make {} private: {}", dir, errno_text(errno)));
}

ControlServer::ControlServer(Switch& sw, const std::string& dir)
    : sw_(sw), trace_(std::make_unique<TraceService>(sw)), path_(dir + "/" + kControlSocketName) {
  make_private_dir(dir);
  const sockaddr_un a = address_of(path_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(path_ + " exists and is not a socket: not replacing it");
    if (someone_listens(path_))
      throw std::runtime_error(fmt::format(
          "another dataplane is listening on {} (stop it, or use another --instance/--pin-dir)",
          path_));
    ::unlink(path_.c_str());  // left by a dataplane that is gone
  }
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket(AF_UNIX): " + errno_text(errno));
  // The socket is created 0600 (umask), not chmod-ed after: no window in
  // which another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int rc = ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0 || ::listen(listen_fd_, 16) != 0) {
    const int e = rc != 0 ? bind_errno : errno;
    ::close(listen_fd_);
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", path_, errno_text(e)));
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    throw std::runtime_error("eventfd: " + errno_text(errno));
  }
}

ControlServer::~ControlServer() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ControlServer::start() {
  started_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { serve(); });
}

void ControlServer::stop() {
  if (stopping_.exchange(true)) return;
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    // An eventfd write fails only when the counter would overflow: the
    // thread is being woken anyway.
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(path_.c_str());
  }
}

namespace {

struct Client {
  int fd = -1;
  std::string in, out;
  bool closing = false;  // close once `out` is written
  bool tracing = false;  // a trace stream: gets records, no replies
  bool trace_json = false;
  uint64_t trace_dropped = 0;  // records not queued: the reader is behind
};

// Trace records for a stream connection, unless the peer is behind on
// reading (then they are counted, and reported when it catches up).
void queue_trace(Client& c, const TraceService::Batch& b) {
  if (!c.tracing || c.closing) return;
  if (c.out.size() >= kMaxPendingOut) {
    c.trace_dropped += b.records;
    return;
  }
  if (c.trace_dropped != 0) {
    c.out +=
        c.trace_json
            ? fmt::format("{{\"type\":\"lost\",\"reader\":true,\"lost\":{}}}\n", c.trace_dropped)
            : fmt::format("lost {} records (this reader was slow)\n", c.trace_dropped);
    c.trace_dropped = 0;
  }
  c.out += c.trace_json ? b.json : b.text;
}

// Sends what it can of `c.out` without blocking.
void flush(Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      c.out.clear();
      c.closing = true;  // the peer is gone
      return;
    }
  }
}

// The peer's user may use the socket: ours or root's.
bool peer_allowed(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
}

}  // namespace

void ControlServer::serve() {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<pollfd> fds;
  while (!stopping_.load()) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& c : clients) {
      short ev = 0;
      if (!c->closing && c->out.size() < kMaxPendingOut) ev |= POLLIN;
      if (!c->out.empty()) ev |= POLLOUT;
      fds.push_back({c->fd, ev, 0});
    }
    // While someone traces, the rings are drained every few ms.
    if (::poll(fds.data(), fds.size(), trace_->active() ? 20 : -1) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid descriptors; stop serving, keep forwarding
    }
    if (fds[0].revents != 0) break;
    if (trace_->active()) {
      bool text = false, as_json = false;
      for (const auto& c : clients) {
        text |= c->tracing && !c->trace_json;
        as_json |= c->tracing && c->trace_json;
      }
      TraceService::Batch batch;
      trace_->collect(batch, text, as_json);
      if (batch.records != 0 || !batch.text.empty() || !batch.json.empty())
        for (const auto& c : clients) queue_trace(*c, batch);
    }
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = *clients[i];
      const short rev = fds[i + 2].revents;
      if (rev & POLLIN) {
        char buf[8192];
        const ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
        bool eof = false;
        if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
          // The peer is done sending: it still gets the replies to its
          // complete lines; an unfinished last request is dropped.
          eof = true;
        } else if (errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK) {
          c.closing = true;
          c.out.clear();
        }
        size_t nl;
        if (c.tracing) c.in.clear();  // a stream: what the peer sends is ignored
        while (!c.closing && (nl = c.in.find('\n')) != std::string::npos) {
          std::string line = c.in.substr(0, nl);
          c.in.erase(0, nl + 1);
          if (line.size() > kMaxRequest) {
            c.out += error_reply(fmt::format("request longer than {} bytes", kMaxRequest)) + "\n";
            c.closing = true;
            break;
          }
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.empty()) continue;
          bool subscribed = false, json_mode = false;
          c.out += handle(line, &subscribed, &json_mode) + "\n";
          if (subscribed) {
            c.tracing = true;
            c.trace_json = json_mode;
            c.in.clear();
            break;
          }
        }
        if (!c.closing && c.in.size() > kMaxRequest) {
          c.out += error_reply(fmt::format("request longer than {} bytes", kMaxRequest)) + "\n";
          c.closing = true;
        }
        if (eof) c.closing = true;
      } else if (rev & (POLLHUP | POLLERR | POLLNVAL)) {
        c.closing = true;
        c.out.clear();
      }
      if (!c.out.empty()) flush(c);
    }
    clients.erase(std::remove_if(clients.begin(), clients.end(),
                                 [this](const std::unique_ptr<Client>& c) {
                                   if (!c->closing || !c->out.empty()) return false;
                                   ::close(c->fd);
                                   if (c->tracing) trace_->unsubscribe();
                                   return true;
                                 }),
                  clients.end());
    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        auto c = std::make_unique<Client>();
        c->fd = fd;
        if (!peer_allowed(fd)) {
          c->out = error_reply("permission denied") + "\n";
          c->closing = true;
        } else if (clients.size() >= kMaxClients) {
          c->out = error_reply("too many connections") + "\n";
          c->closing = true;
        }
        if (c->closing) {
          flush(*c);  // best effort: a refused peer gets no second chance
          ::close(fd);
          continue;
        }
        clients.push_back(std::move(c));
      }
    }
  }
  for (const auto& c : clients) {
    ::close(c->fd);
    if (c->tracing) trace_->unsubscribe();
  }
}

std::string ControlServer::handle(const std::string& request, bool* subscribed, bool* json_mode) {
  try {
    json req;
    try {
      req = json::parse(request);
    } catch (const json::exception& e) {
      return error_reply(std::string("malformed request: ") + e.what());
    }
    if (!req.is_object()) return error_reply("a request must be a JSON object");
    const auto cmd_it = req.find("cmd");
    if (cmd_it == req.end() || !cmd_it->is_string())
      return error_reply(
          "a request needs \"cmd\": \"prog.list\", \"prog.replace\", "
          "\"prog.detach\", \"prog.stats\", \"stats\" or \"trace\"");
    const std::string cmd = cmd_it->get<std::string>();
    const double uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    json reply;
    reply["ok"] = true;
    if (cmd == "stats") {
      reply["uptime_s"] = uptime;
      const json report = json::parse(sw_.report_json(uptime));
      for (const auto& [k, v] : report.items()) reply[k] = v;
    } else if (cmd == "prog.list") {
      // The hooks' counters come from the same report as `stats`; each
      // filter has its run count and, while prog stats are on, its time
      // (prog_stats.h; run_cnt and run_time_ns as bpftool prog show).
      const json report = json::parse(sw_.report_json(uptime, false));
      json ports = json::array();
      for (const auto& p : sw_.pipeline().ports) {
        json o;
        o["name"] = p->name;
        o["ifindex"] = p->ifindex;
        for (Hook h : {kIngress, kEgress}) {
          const char* name = h == kIngress ? "ingress" : "egress";
          const json& counters = report["ports"][p->index][name];
          json hook;
          json filters = json::array();
          uint64_t runs = 0, ns = 0;
          for (const auto& [f, st] : sw_.filter_stats(p->index, h)) {
            json fo = filter_json(f);
            fo["run_cnt"] = st.runs;
            fo["run_time_ns"] = st.run_time_ns;
            fo["avg_ns"] = st.runs != 0 && st.run_time_ns != 0
                               ? json(static_cast<double>(st.run_time_ns) / st.runs)
                               : json(nullptr);
            runs += st.runs;
            ns += st.run_time_ns;
            filters.push_back(fo);
          }
          hook["filters"] = filters;
          hook["runs"] = counters["runs"];
          hook["packets"] = counters["packets"];
          hook["verdicts"] = counters["verdicts"];
          // Over the filters (act_bpf programs are not timed).
          hook["avg_ns"] =
              runs != 0 && ns != 0 ? json(static_cast<double>(ns) / runs) : json(nullptr);
          o[name] = hook;
        }
        ports.push_back(o);
      }
      reply["ports"] = ports;
      reply["prog_stats"] = prog_stats_enabled();
    } else if (cmd == "prog.replace") {
      const Port& port = port_of(sw_, req);
      const Hook hook = hook_of(req);
      config::FilterConfig f;
      f.priority = static_cast<uint32_t>(priority_of(req, false));
      f.object = string_of(req, "object");
      f.program = string_of(req, "program");
      if (const auto it = req.find("direct_action"); it != req.end()) {
        if (!it->is_boolean()) throw std::invalid_argument("'direct_action' must be a boolean");
        f.direct_action = it->get<bool>();
      }
      if (!f.direct_action)
        throw std::invalid_argument(
            "only direct-action filters can be set over the control socket");
      // Load and verifier errors start with this (Location::str).
      f.where.file = fmt::format("prog replace {} {} {}", port.name,
                                 hook == kIngress ? "ingress" : "egress", f.priority);
      bool replaced = false;
      sw_.edit_chain(port.name, hook, [&](std::vector<config::FilterConfig>& list) {
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const auto& x) { return x.priority >= f.priority; });
        replaced = it != list.end() && it->priority == f.priority;
        if (replaced) {
          *it = f;
        } else {
          list.insert(it, f);
        }
      });
      reply["replaced"] = replaced;
      reply["filter"] = filter_json(f);
    } else if (cmd == "prog.detach") {
      const Port& port = port_of(sw_, req);
      const Hook hook = hook_of(req);
      const int64_t prio = priority_of(req, true);
      size_t removed = 0;
      sw_.edit_chain(port.name, hook, [&](std::vector<config::FilterConfig>& list) {
        const size_t before = list.size();
        if (prio < 0) {
          list.clear();
        } else {
          list.erase(std::remove_if(list.begin(), list.end(),
                                    [&](const auto& x) { return x.priority == prio; }),
                     list.end());
        }
        removed = before - list.size();
        if (prio >= 0 && removed == 0)
          throw std::invalid_argument(fmt::format("no filter with priority {} on {} {}", prio,
                                                  port.name,
                                                  hook == kIngress ? "ingress" : "egress"));
      });
      reply["removed"] = removed;
    } else if (cmd == "prog.stats") {
      return TraceService::prog_stats(req);
    } else if (cmd == "trace") {
      if (subscribed == nullptr) return error_reply("a trace request needs a connection");
      return trace_->subscribe(req, subscribed, json_mode);
    } else if (cmd.rfind("map.", 0) == 0) {
      const json r = handle_map_request(sw_, cmd, req);
      for (const auto& [k, v] : r.items()) reply[k] = v;
    } else {
      return error_reply("unknown command '" + cmd +
                         "' (known: prog.list, prog.replace, prog.detach, prog.stats, stats, "
                         "trace, map.*)");
    }
    return reply.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return error_reply(e.what());
  } catch (...) {
    return error_reply("internal error");
  }
}

}  // namespace skbpf::dataplane
