#include "control_client.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "commands.h"
#include "skbpf/dataplane/control.h"

namespace skbpf::tools {

using json = nlohmann::ordered_json;

void add_where(CLI::App* cmd, Where& w) {
  cmd->add_option("--pin-dir", w.pin_dir, "The dataplane's pin directory (as given to skbpf run)");
  cmd->add_option("--instance", w.instance, "The dataplane's instance name")->default_str("run");
}

std::string socket_path(const Where& w) {
  if (!w.pin_dir.empty()) return w.pin_dir + "/" + dataplane::kControlSocketName;
  const auto dirs = dataplane::pin_dir_candidates(w.instance);
  for (const std::string& d : dirs) {
    const std::string p = d + "/" + dataplane::kControlSocketName;
    if (std::filesystem::exists(p)) return p;
  }
  return dirs.front() + "/" + dataplane::kControlSocketName;
}

std::string pin_dir_of(const Where& w) {
  if (!w.pin_dir.empty()) return w.pin_dir;
  const auto dirs = dataplane::pin_dir_candidates(w.instance);
  for (const std::string& d : dirs) {
    if (std::filesystem::is_directory(d)) return d;
  }
  return dirs.front();
}

bool Connection::connect_to(const std::string& path) {
  path_ = path;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(a.sun_path)) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    errno = e;
    return false;
  }
  return true;
}

Connection::Connection(const Where& w) {
  if (!connect_to(socket_path(w))) {
    throw ExitError(2, fmt::format("cannot connect to the dataplane's control socket {}: {} "
                                   "(is `skbpf run` running? see --pin-dir/--instance)",
                                   path_, std::strerror(errno)));
  }
}

std::unique_ptr<Connection> Connection::try_open(const Where& w) {
  std::unique_ptr<Connection> c(new Connection());
  if (!c->connect_to(socket_path(w))) return nullptr;
  return c;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::read_line(std::string* line, const std::atomic<bool>& stop) {
  size_t nl;
  while ((nl = in_.find('\n')) == std::string::npos) {
    if (stop.load()) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    in_.append(buf, static_cast<size_t>(n));
  }
  *line = in_.substr(0, nl);
  in_.erase(0, nl + 1);
  return true;
}

json Connection::request(const json& req, bool accept_error) {
  std::string line = req.dump() + "\n";
  for (size_t off = 0; off < line.size();) {
    const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw ExitError(2, fmt::format("{}: send: {}", path_, std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  size_t nl;
  size_t scanned = 0;
  while ((nl = in_.find('\n', scanned)) == std::string::npos) {
    scanned = in_.size();
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) throw ExitError(2, fmt::format("{}: the dataplane closed the connection", path_));
    in_.append(buf, static_cast<size_t>(n));
  }
  json reply;
  try {
    reply = json::parse(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(nl));
  } catch (const std::exception& e) {
    throw ExitError(2, fmt::format("{}: unreadable reply: {}", path_, e.what()));
  }
  in_.erase(0, nl + 1);
  if (!accept_error && !reply.value("ok", false))
    throw ExitError(1, reply.value("error", std::string("the dataplane refused")));
  return reply;
}

}  // namespace skbpf::tools
