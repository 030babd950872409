// The replay's per-frame trace lines (see replay_trace.h). Only runs with
// --trace: it allocates (strings), which the pipeline itself never does.
#include "skbpf/dataplane/replay_trace.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace skbpf::dataplane {
namespace {

const char* hook_name(Hook h) {
  return h == kIngress ? "ingress" : "egress";
}

std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump();
}

}  // namespace

void ShardTracer::begin(uint64_t frame, uint16_t port, const std::string& file, uint64_t record,
                        uint32_t len) {
  const std::string& name = pl_.ports[port]->name;
  first_step_ = true;
  programs_.clear();
  if (json_) {
    line_ = fmt::format(R"({{"frame":{},"in":{},"file":{},"record":{},"len":{},"steps":[)", frame,
                        quoted(name), quoted(file), record, len);
  } else {
    line_ = fmt::format("frame {} ({} #{}, {} bytes):", frame, name, record, len);
  }
}

std::string ShardTracer::end() {
  if (json_) {
    line_ += "]}";
  } else if (first_step_) {
    line_ += " nothing";
  }
  return std::move(line_);
}

void ShardTracer::step(const std::string& text, const std::string& json) {
  if (json_) {
    line_ += (first_step_ ? "" : ",") + json;
  } else {
    line_ += (first_step_ ? " " : "; ") + text;
  }
  first_step_ = false;
}

void ShardTracer::out(uint16_t port) {
  const std::string& name = pl_.ports[port]->name;
  step("out " + name, R"({"out":)" + quoted(name) + "}");
}

void ShardTracer::chain(const Port&, Hook) {
  programs_.clear();
}

void ShardTracer::program(const ProgramRef& prog, int32_t rc) {
  if (json_) {
    programs_ += fmt::format(R"({}{{"name":{},"rc":{}}})", programs_.empty() ? "" : ",",
                             quoted(prog.name), rc);
  } else {
    programs_ += fmt::format("{}{}={}", programs_.empty() ? "" : " ", prog.name, rc);
  }
}

void ShardTracer::verdict(const Port& p, Hook hook, int32_t v) {
  step(fmt::format("{} {} [{}] {}", p.name, hook_name(hook), programs_, verdict_name(v)),
       fmt::format(R"({{"port":{},"hook":"{}","programs":[{}],"verdict":"{}"}})", quoted(p.name),
                   hook_name(hook), programs_, verdict_name(v)));
  programs_.clear();
}

void ShardTracer::redirect(const Port& from, const Port* to, bool ingress) {
  const std::string target = to != nullptr ? to->name : std::string("(unknown ifindex)");
  step(fmt::format("redirect {} -> {} {}", from.name, target, ingress ? "ingress" : "egress"),
       fmt::format(R"({{"redirect":{},"from":{},"hook":"{}"}})", quoted(target), quoted(from.name),
                   ingress ? "ingress" : "egress"));
}

void ShardTracer::clone(const Port& to, bool ingress) {
  step(fmt::format("copy -> {} {}", to.name, ingress ? "ingress" : "egress"),
       fmt::format(R"({{"clone":{},"hook":"{}"}})", quoted(to.name),
                   ingress ? "ingress" : "egress"));
}

void ShardTracer::tunnel(const Port& t, bool encap) {
  step(fmt::format("{} {}", encap ? "encapsulated by" : "decapsulated into", t.name),
       fmt::format(R"({{"{}":{}}})", encap ? "encap" : "decap", quoted(t.name)));
}

void ShardTracer::drop(const Port& p, Drop why) {
  step(fmt::format("dropped at {} ({})", p.name, drop_name(why)),
       fmt::format(R"({{"drop":"{}","port":{}}})", drop_name(why), quoted(p.name)));
}

}  // namespace skbpf::dataplane
