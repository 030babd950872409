// The switch's statistics as text (printed at exit) and JSON (--json).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "skbpf/dataplane/switch.h"
#include "skbpf/dataplane/tap.h"

namespace skbpf::dataplane {
namespace {

const int32_t kVerdictOrder[] = {TC_ACT_OK,     TC_ACT_SHOT,   TC_ACT_REDIRECT, TC_ACT_UNSPEC,
                                 TC_ACT_PIPE,   TC_ACT_STOLEN, TC_ACT_TRAP,     TC_ACT_RECLASSIFY,
                                 TC_ACT_QUEUED, TC_ACT_REPEAT};

nlohmann::ordered_json hook_json(const HookStats& h) {
  nlohmann::ordered_json j;
  j["packets"] = h.packets();
  j["runs"] = h.runs.get();
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  for (int32_t verdict : kVerdictOrder) {
    const uint64_t n = h.verdicts[verdict_slot(verdict)].get();
    if (n != 0) v[verdict_name(verdict)] = n;
  }
  if (uint64_t n = h.verdicts[kVerdictSlots - 1].get(); n != 0) v["other"] = n;
  j["verdicts"] = v;
  return j;
}

std::string hook_text(const HookStats& h) {
  std::string s = fmt::format("{} pkts, {} runs", h.packets(), h.runs.get());
  std::string v;
  for (int32_t verdict : kVerdictOrder) {
    const uint64_t n = h.verdicts[verdict_slot(verdict)].get();
    if (n != 0) v += fmt::format("{}{} {}", v.empty() ? "" : ", ", verdict_name(verdict), n);
  }
  if (uint64_t n = h.verdicts[kVerdictSlots - 1].get(); n != 0)
    v += fmt::format("{}other {}", v.empty() ? "" : ", ", n);
  return v.empty() ? s : s + " (" + v + ")";
}

nlohmann::ordered_json taps_json(const Taps* taps, uint16_t port) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  if (taps == nullptr) return a;
  for (const Tap* t : taps->of_port(port)) {
    const TapTotals n = t->totals();
    nlohmann::ordered_json o;
    o["filter"] = t->filter_text;
    o["hook"] = t->hook == kIngress ? "ingress" : "egress";
    if (t->to >= 0) {
      o["to"] = t->source.to;
    } else {
      o["pcap"] = t->source.pcap;
    }
    o["snaplen"] = t->snaplen;
    o["seen"] = n.seen;
    o["matched"] = n.matched;
    o["bytes"] = n.bytes;
    o["dropped"] = n.dropped;
    if (t->to < 0) o["written"] = n.written;
    a.push_back(o);
  }
  return a;
}

std::string taps_text(const Taps* taps, uint16_t port) {
  std::string s;
  if (taps == nullptr) return s;
  for (const Tap* t : taps->of_port(port)) {
    const TapTotals n = t->totals();
    s += fmt::format("  tap {} `{}` -> {}: seen {}, matched {}, {} bytes kept, dropped {}",
                     t->hook == kIngress ? "ingress" : "egress", t->filter_text, t->target, n.seen,
                     n.matched, n.bytes, n.dropped);
    if (t->to < 0) s += fmt::format(", written {}", n.written);
    s += "\n";
  }
  return s;
}

}  // namespace

std::string Switch::report_json(double seconds, bool with_lcores) const {
  nlohmann::ordered_json j;
  j["duration_s"] = seconds;
  nlohmann::ordered_json ports = nlohmann::ordered_json::array();
  uint64_t rx = 0, tx = 0, dropped = 0;
  for (const auto& p : pipeline_.ports) {
    const PortStats t = port_totals(p->index);
    nlohmann::ordered_json o;
    o["name"] = p->name;
    o["ifindex"] = p->ifindex;
    o["kind"] = p->kind == Port::Kind::kTunnel ? "tunnel" : "ethdev";
    o["rx_packets"] = t.rx_packets.get();
    o["rx_bytes"] = t.rx_bytes.get();
    o["tx_packets"] = t.tx_packets.get();
    o["tx_bytes"] = t.tx_bytes.get();
    o["ingress"] = hook_json(t.hook[kIngress]);
    o["egress"] = hook_json(t.hook[kEgress]);
    nlohmann::ordered_json d = nlohmann::ordered_json::object();
    for (int k = 0; k < static_cast<int>(Drop::kCount); ++k) {
      if (uint64_t n = t.drops[k].get(); n != 0) {
        d[drop_name(static_cast<Drop>(k))] = n;
        dropped += n;
      }
    }
    o["drops"] = d;
    o["redirects"] = t.redirects.get();
    o["clones"] = t.clones.get();
    if (nlohmann::ordered_json tj = taps_json(taps_.get(), p->index); !tj.empty()) o["taps"] = tj;
    if (p->kind == Port::Kind::kTunnel) {
      o["encaps"] = t.encaps.get();
      o["decaps"] = t.decaps.get();
    } else {
      rx += t.rx_packets.get();
      tx += t.tx_packets.get();
    }
    ports.push_back(o);
  }
  j["ports"] = ports;
  nlohmann::ordered_json lcores = nlohmann::ordered_json::array();
  for (size_t w = 0; w < plans_.size(); ++w) {
    nlohmann::ordered_json o;
    o["lcore"] = plans_[w].lcore;
    o["slot"] = plans_[w].slot;
    o["packets"] = stats_[w]->packets.get();
    o["polls"] = stats_[w]->polls.get();
    lcores.push_back(o);
  }
  if (with_lcores) j["lcores"] = lcores;
  j["totals"] = {{"rx_packets", rx}, {"tx_packets", tx}, {"dropped", dropped}};
  return j.dump();
}

std::string Switch::report_text(double seconds, bool with_lcores) const {
  std::string s =
      with_lcores ? fmt::format("skbpf: ran {:.3f} s, {} worker lcore(s)\n", seconds, plans_.size())
                  : std::string();
  for (const auto& p : pipeline_.ports) {
    const PortStats t = port_totals(p->index);
    const double secs = seconds > 0 ? seconds : 1;
    s += fmt::format("port {} (ifindex {}, {}):\n", p->name, p->ifindex,
                     p->kind == Port::Kind::kTunnel ? "tunnel" : "ethdev");
    auto rate = [&](uint64_t n) {
      const double pps = n / secs;
      return pps >= 1e5 ? fmt::format(" ({:.2f} Mpps)", pps / 1e6) : std::string();
    };
    s += fmt::format("  rx {} pkts {} bytes{}   tx {} pkts {} bytes{}\n", t.rx_packets.get(),
                     t.rx_bytes.get(), rate(t.rx_packets.get()), t.tx_packets.get(),
                     t.tx_bytes.get(), rate(t.tx_packets.get()));
    s += "  ingress: " + hook_text(t.hook[kIngress]) + "\n";
    s += "  egress:  " + hook_text(t.hook[kEgress]) + "\n";
    std::string d;
    for (int k = 0; k < static_cast<int>(Drop::kCount); ++k) {
      if (uint64_t n = t.drops[k].get(); n != 0)
        d += fmt::format("{}{} {}", d.empty() ? "" : ", ", drop_name(static_cast<Drop>(k)), n);
    }
    s += "  drops:   " + (d.empty() ? std::string("none") : d) + "\n";
    if (t.redirects.get() || t.clones.get())
      s += fmt::format("  redirects {}, clones {}\n", t.redirects.get(), t.clones.get());
    s += taps_text(taps_.get(), p->index);
    if (p->kind == Port::Kind::kTunnel)
      s += fmt::format("  encapsulated {}, decapsulated {}\n", t.encaps.get(), t.decaps.get());
  }
  for (size_t w = 0; w < plans_.size() && with_lcores; ++w) {
    s += fmt::format("lcore {} (slot {}): {} pkts in {} polls\n", plans_[w].lcore, plans_[w].slot,
                     stats_[w]->packets.get(), stats_[w]->polls.get());
  }
  return s;
}

}  // namespace skbpf::dataplane
