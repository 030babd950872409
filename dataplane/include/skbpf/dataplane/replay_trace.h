// `skbpf replay --trace`: one line per input frame saying what happened to
// it (the chains that ran, each program's return code, the verdicts,
// redirects, copies, tunnels, drops and the ports it left by). A shard's
// tracer collects the steps of the frame it is running; the replay writes
// the lines in input order.
//
// Text:  frame 3 (wan #3, 74 bytes): wan ingress [fw=2] shot; dropped at wan (verdict)
// JSON:  {"frame":3,"in":"wan","file":"x.pcap","record":3,"len":74,"steps":[
//          {"port":"wan","hook":"ingress","programs":[{"name":"fw","rc":2}],"verdict":"shot"},
//          {"drop":"verdict","port":"wan"}]}
#pragma once

#include <cstdint>
#include <string>

#include "skbpf/dataplane/pipeline.h"

namespace skbpf::dataplane {

struct TraceRecord {
  uint64_t seq = 0;
  std::string text;
};

class ShardTracer final : public Tracer {
 public:
  ShardTracer(const Pipeline& pl, bool json) : pl_(pl), json_(json) {}

  // A frame (1-based number in input order) enters port `port`.
  void begin(uint64_t frame, uint16_t port, const std::string& file, uint64_t record, uint32_t len);
  std::string end();  // its line
  void out(uint16_t port);

  void chain(const Port& p, Hook hook) override;
  void program(const ProgramRef& prog, int32_t rc) override;
  void verdict(const Port& p, Hook hook, int32_t verdict) override;
  void redirect(const Port& from, const Port* to, bool ingress) override;
  void clone(const Port& to, bool ingress) override;
  void tunnel(const Port& t, bool encap) override;
  void drop(const Port& p, Drop why) override;

 private:
  void step(const std::string& text, const std::string& json);
  const Pipeline& pl_;
  bool json_;
  std::string line_;
  std::string programs_;  // of the chain being run
  bool first_step_ = true;
};

}  // namespace skbpf::dataplane
