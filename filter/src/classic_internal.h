// Shared by the classic checker, converter and listing.
#pragma once

#include <cstdint>

namespace skbpf::filter {

// The name tcpdump/bpf_asm give an ancillary load at SKF_AD_OFF + n
// ("proto", "vlan_tci", ...), nullptr for an unknown one.
const char* ancillary_name(uint32_t k);
// The ancillary loads the converter implements: all but the netlink
// attribute walks and the flow dissector's payload offset.
bool ancillary_supported(uint32_t k);

}  // namespace skbpf::filter
