// The control socket's map commands (docs/control.md, docs/pinning.md):
// map.list, map.info, map.lookup, map.update, map.delete, map.dump and
// map.pin, on every map of the running switch. Keys and values travel as
// hex strings in the host layout (per-CPU values: every lcore slot,
// round_up(value_size, 8) apart, as the kernel's syscall gives them);
// typed formatting is the client's job, from the BTF map.info returns.
//
// Host-side map operations only: they take the maps' writer locks and wait
// for grace periods from the control thread, never from a worker.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "skbpf/dataplane/switch.h"

namespace skbpf::dataplane {

// Handles one map.* request; the reply without "ok". Throws
// std::invalid_argument / std::runtime_error with the message for the
// error reply.
nlohmann::ordered_json handle_map_request(Switch& sw, const std::string& cmd,
                                          const nlohmann::ordered_json& req);

}  // namespace skbpf::dataplane
