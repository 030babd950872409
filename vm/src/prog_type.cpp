#include "skbpf/vm/prog_type.h"

namespace skbpf::vm {

// clang-format off
std::string_view prog_type_name(ProgType type) {
  switch (type) {
    case ProgType::kUnspec: return "unspec";
    case ProgType::kSchedCls: return "sched_cls";
    case ProgType::kSchedAct: return "sched_act";
    case ProgType::kSocketFilter: return "socket_filter";
    case ProgType::kRawMemory: return "raw_memory";
  }
  return "unspec";
}
// clang-format on

std::optional<ProgType> prog_type_from_name(std::string_view name) {
  for (ProgType t : {ProgType::kUnspec, ProgType::kSchedCls, ProgType::kSchedAct,
                     ProgType::kSocketFilter, ProgType::kRawMemory}) {
    if (name == prog_type_name(t)) return t;
  }
  if (name == "classifier") return ProgType::kSchedCls;
  if (name == "action") return ProgType::kSchedAct;
  if (name == "socket") return ProgType::kSocketFilter;
  return std::nullopt;
}

namespace {
// `section` is `prefix` or `prefix/...`.
bool names(std::string_view section, std::string_view prefix, bool allow_suffix) {
  if (section == prefix) return true;
  return allow_suffix && section.size() > prefix.size() + 1 && section.starts_with(prefix) &&
         section[prefix.size()] == '/';
}
}  // namespace

ProgType prog_type_from_section(std::string_view section) {
  if (names(section, "tc", false) || names(section, "classifier", true)) {
    return ProgType::kSchedCls;
  }
  if (names(section, "action", true)) return ProgType::kSchedAct;
  if (names(section, "socket", true)) return ProgType::kSocketFilter;
  return ProgType::kUnspec;
}

}  // namespace skbpf::vm
