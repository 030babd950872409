// DPDK telemetry commands for the running switch (read them with
// `dpdk-telemetry.py -f FILE_PREFIX`):
//   /skbpf/ports              the port names
//   /skbpf/port,NAME          one port's counters, verdicts and drops
//   /skbpf/lcores             packets and polls per worker lcore
//   /skbpf/stats              the whole report (the same JSON as --json)
// The callbacks run on DPDK's telemetry thread and only read the per-lcore
// counters (relaxed loads), never disturbing the workers.
#include <rte_telemetry.h>

#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>

#include "skbpf/dataplane/switch.h"
#include "skbpf/dataplane/tap.h"

namespace skbpf::dataplane {
namespace {

// Set while a switch runs; the telemetry thread reads it.
std::atomic<const Switch*> g_switch{nullptr};

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  const Switch* sw = g_switch.load(std::memory_order_acquire);
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  if (sw == nullptr) return 0;
  for (const auto& p : sw->pipeline().ports) rte_tel_data_add_array_string(d, p->name.c_str());
  return 0;
}

int cmd_port(const char*, const char* params, rte_tel_data* d) {
  const Switch* sw = g_switch.load(std::memory_order_acquire);
  if (sw == nullptr || params == nullptr) return -EINVAL;
  for (const auto& p : sw->pipeline().ports) {
    if (p->name != params) continue;
    const PortStats t = sw->port_totals(p->index);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "ifindex", p->ifindex);
    rte_tel_data_add_dict_u64(d, "rx_packets", t.rx_packets.get());
    rte_tel_data_add_dict_u64(d, "rx_bytes", t.rx_bytes.get());
    rte_tel_data_add_dict_u64(d, "tx_packets", t.tx_packets.get());
    rte_tel_data_add_dict_u64(d, "tx_bytes", t.tx_bytes.get());
    for (int h = 0; h < 2; ++h) {
      const char* hook = h == kIngress ? "ingress" : "egress";
      char key[64];
      std::snprintf(key, sizeof(key), "%s_packets", hook);
      rte_tel_data_add_dict_u64(d, key, t.hook[h].packets());
      for (int32_t v = -1; v <= 8; ++v) {
        const uint64_t n = t.hook[h].verdicts[verdict_slot(v)].get();
        if (n == 0) continue;
        std::snprintf(key, sizeof(key), "%s_%s", hook, verdict_name(v));
        rte_tel_data_add_dict_u64(d, key, n);
      }
    }
    for (int k = 0; k < static_cast<int>(Drop::kCount); ++k) {
      char key[64];
      std::snprintf(key, sizeof(key), "drop_%s", drop_name(static_cast<Drop>(k)));
      rte_tel_data_add_dict_u64(d, key, t.drops[k].get());
    }
    rte_tel_data_add_dict_u64(d, "redirects", t.redirects.get());
    rte_tel_data_add_dict_u64(d, "clones", t.clones.get());
    rte_tel_data_add_dict_u64(d, "encaps", t.encaps.get());
    rte_tel_data_add_dict_u64(d, "decaps", t.decaps.get());
    if (sw->taps() != nullptr) {
      // tapN_*: the port's taps in configuration order (names and filters
      // are in `skbpf stats --json` and the report).
      size_t i = 0;
      for (const Tap* tap : sw->taps()->of_port(p->index)) {
        const TapTotals n = tap->totals();
        const std::pair<const char*, uint64_t> vals[] = {
            {"seen", n.seen}, {"matched", n.matched}, {"bytes", n.bytes}, {"dropped", n.dropped}};
        for (const auto& [what, v] : vals) {
          char key[64];
          std::snprintf(key, sizeof(key), "tap%zu_%s", i, what);
          rte_tel_data_add_dict_u64(d, key, v);
        }
        ++i;
      }
    }
    return 0;
  }
  return -EINVAL;
}

int cmd_lcores(const char*, const char*, rte_tel_data* d) {
  const Switch* sw = g_switch.load(std::memory_order_acquire);
  rte_tel_data_start_dict(d);
  if (sw == nullptr) return 0;
  for (size_t w = 0; w < sw->workers().size(); ++w) {
    char key[64];
    std::snprintf(key, sizeof(key), "lcore%u_packets", sw->workers()[w].lcore);
    rte_tel_data_add_dict_u64(d, key, sw->lcore_stats(w).packets.get());
    std::snprintf(key, sizeof(key), "lcore%u_polls", sw->workers()[w].lcore);
    rte_tel_data_add_dict_u64(d, key, sw->lcore_stats(w).polls.get());
  }
  return 0;
}

int cmd_stats(const char*, const char*, rte_tel_data* d) {
  const Switch* sw = g_switch.load(std::memory_order_acquire);
  // Totals per port as a dict of containers.
  rte_tel_data_start_dict(d);
  if (sw == nullptr) return 0;
  for (const auto& p : sw->pipeline().ports) {
    const PortStats t = sw->port_totals(p->index);
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(c);
    rte_tel_data_add_dict_u64(c, "rx_packets", t.rx_packets.get());
    rte_tel_data_add_dict_u64(c, "tx_packets", t.tx_packets.get());
    uint64_t dropped = 0;
    for (int k = 0; k < static_cast<int>(Drop::kCount); ++k) dropped += t.drops[k].get();
    rte_tel_data_add_dict_u64(c, "dropped", dropped);
    rte_tel_data_add_dict_container(d, p->name.c_str(), c, 0);
  }
  return 0;
}

}  // namespace

void Switch::unregister_telemetry() {
  // DPDK has no way to remove a command: they stay and answer for no switch.
  const Switch* self = this;
  g_switch.compare_exchange_strong(self, nullptr);
}

void Switch::register_telemetry() {
  g_switch.store(this, std::memory_order_release);
  static bool registered = false;
  if (registered) return;
  registered = true;
  rte_telemetry_register_cmd("/skbpf/ports", cmd_ports, "Port names. Takes no parameters");
  rte_telemetry_register_cmd("/skbpf/port", cmd_port,
                             "One port's counters, verdicts and drops. Parameter: port name");
  rte_telemetry_register_cmd("/skbpf/lcores", cmd_lcores, "Packets and polls per worker lcore");
  rte_telemetry_register_cmd("/skbpf/stats", cmd_stats, "Per-port totals");
}

}  // namespace skbpf::dataplane
