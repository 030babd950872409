// The running dataplane's control socket (docs/control.md): `skbpf prog
// list|replace|detach` and `skbpf stats` talk to `skbpf run` over a Unix
// stream socket, `control.sock` in the instance's pin directory.
//
// Protocol: one JSON object per line each way. A request is
// {"cmd":"prog.list"|"prog.replace"|"prog.detach"|"prog.stats"|"stats", ...};
// the reply is {"ok":true, ...} or {"ok":false,"error":"..."}. A `trace`
// request turns its connection into a stream of trace records
// (control_trace.h) that gets no other reply. A request longer than
// kMaxRequest bytes, or a peer that is neither this process's user nor
// root (SO_PEERCRED), gets an error reply and the connection is closed.
//
// Safety: the server is one thread that only reads the statistics (relaxed
// loads, as the telemetry callbacks) and changes chains through the
// switch's QSBR swap (Switch::edit_chain): the workers never wait on it, and
// nothing a peer sends can stop forwarding.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "skbpf/dataplane/switch.h"

namespace skbpf::dataplane {

class TraceService;

inline constexpr size_t kMaxRequest = 64 * 1024;
inline constexpr const char* kControlSocketName = "control.sock";

// Where an instance's pin directory is, in the order they are tried:
// /run/skbpf/INSTANCE, then $XDG_RUNTIME_DIR/skbpf/INSTANCE (when set), then
// /tmp/skbpf-UID/INSTANCE. The server uses the first it can create; a
// client the first that holds a control socket.
std::vector<std::string> pin_dir_candidates(const std::string& instance);

// Creates `dir` (and its parents) with mode 0700 for the last component and
// checks it is a directory owned by this user (or root) that no one else
// may write. Throws std::runtime_error naming the path.
void make_private_dir(const std::string& dir);

// Keys and values travel as hex text (two lower-case digits per byte, no
// separators); from_hex throws std::invalid_argument naming `what`.
std::string to_hex(const uint8_t* p, size_t n);
std::vector<uint8_t> from_hex(const std::string& s, const char* what);

class ControlServer {
 public:
  // Binds DIR/control.sock (DIR created 0700, the socket 0600). A socket
  // left by a dataplane that is gone is replaced; one that answers is not
  // (std::runtime_error: another dataplane listens there).
  ControlServer(Switch& sw, const std::string& dir);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Serves on a thread of its own until stop() (idempotent; also done by
  // the destructor), which closes every connection and removes the socket.
  void start();
  void stop();
  const std::string& socket_path() const { return path_; }

  // One request line to one reply line (no newline); never throws. The
  // thread's dispatcher, public for tests (a `trace` request needs a
  // connection: refused here).
  std::string handle(const std::string& request) { return handle(request, nullptr, nullptr); }

 private:
  void serve();
  // `subscribed`/`json_mode` (nullptr: no connection) are set when the
  // request subscribed the connection to the trace stream.
  std::string handle(const std::string& request, bool* subscribed, bool* json_mode);

  Switch& sw_;
  std::unique_ptr<TraceService> trace_;  // control_trace.h
  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() wakes poll()
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace skbpf::dataplane
