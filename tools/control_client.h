// The client side of the running dataplane's control socket
// (docs/control.md), shared by `skbpf prog|stats` (cmd_control.cpp) and
// `skbpf map` (cmd_map.cpp).
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace skbpf::tools {

// Which dataplane: --pin-dir, else --instance's candidate directories.
struct Where {
  std::string pin_dir;
  std::string instance = "run";
};

void add_where(CLI::App* cmd, Where& w);

// The socket to use: --pin-dir's, else the first candidate that has one.
std::string socket_path(const Where& w);
// The pin directory: --pin-dir, else the first candidate that exists
// (else the first candidate).
std::string pin_dir_of(const Where& w);

// One connection; requests and replies a line each.
class Connection {
 public:
  // Exit 2 naming the socket when no dataplane listens there.
  explicit Connection(const Where& w);
  // nullptr when no dataplane answers (skbpf map then works on the files).
  static std::unique_ptr<Connection> try_open(const Where& w);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `req`; returns the reply. Exit 1 with the dataplane's error when
  // it says no (unless `accept_error`), 2 when the connection breaks.
  nlohmann::ordered_json request(const nlohmann::ordered_json& req, bool accept_error = false);
  // The next line the dataplane sends (a `trace` stream); false when it
  // closed the connection or `stop` became true while waiting.
  bool read_line(std::string* line, const std::atomic<bool>& stop);
  const std::string& path() const { return path_; }

 private:
  Connection() = default;
  bool connect_to(const std::string& path);
  std::string path_;
  int fd_ = -1;
  std::string in_;
};

}  // namespace skbpf::tools
