// EAL start-up for a switch (see switch.h: start_eal).
#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "skbpf/dataplane/switch.h"

namespace skbpf::dataplane {
namespace {

// Free 2 MB (or any size) hugepages and a hugetlbfs mount: both are needed.
bool have_hugepages() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  long free_pages = 0;
  while (std::getline(meminfo, line)) {
    if (line.rfind("HugePages_Free:", 0) == 0) free_pages = std::stol(line.substr(15));
  }
  if (free_pages <= 0) return false;
  std::ifstream mounts("/proc/mounts");
  while (std::getline(mounts, line)) {
    if (line.find(" hugetlbfs ") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// [DDDD:]BB:DD.F[,args], hex digits: a PCI address as the EAL's -a takes it.
bool is_pci_address(const std::string& device) {
  const std::string addr = device.substr(0, device.find(','));
  auto hex = [&](size_t from, size_t n) {
    if (from + n > addr.size()) return false;
    for (size_t k = from; k < from + n; ++k) {
      if (!std::isxdigit(static_cast<unsigned char>(addr[k]))) return false;
    }
    return true;
  };
  size_t at = 0;
  if (addr.size() == 12) {  // with the domain
    if (!hex(0, 4) || addr[4] != ':') return false;
    at = 5;
  } else if (addr.size() != 7) {
    return false;
  }
  return hex(at, 2) && addr[at + 2] == ':' && hex(at + 3, 2) && addr[at + 5] == '.' &&
         addr[at + 6] >= '0' && addr[at + 6] <= '7';
}

EalInfo start_eal(const config::SwitchConfig& cfg, const std::vector<std::string>& user_args,
                  const std::string& instance) {
  EalInfo info;
  info.file_prefix = fmt::format("skbpf-{}-{}", instance, getpid());
  info.args = {"skbpf", "--file-prefix=" + info.file_prefix, "--log-level=lib.*:warning"};
  bool user_memory = false, user_lcores = false;
  for (const std::string& a : user_args) {
    if (a == "--no-huge" || a == "-m" || a.rfind("--socket-mem", 0) == 0) user_memory = true;
    if (a == "-l" || a == "-c" || a.rfind("--lcores", 0) == 0 || a.rfind("-l", 0) == 0)
      user_lcores = true;
  }
  info.hugepages = have_hugepages();
  if (!user_memory && !info.hugepages) {
    std::fprintf(stderr,
                 "skbpf: no free hugepages (or no hugetlbfs mount): running with --no-huge "
                 "(reserve some for better performance: echo 512 > /proc/sys/vm/nr_hugepages)\n");
    info.args.push_back("--no-huge");
    info.args.push_back("-m");
    info.args.push_back("1024");
  }
  bool any_pci = false;
  for (const config::PortConfig& p : cfg.ports) {
    if (is_pci_address(p.device)) {
      any_pci = true;
      info.args.push_back("-a");
      info.args.push_back(p.device);
    }
  }
  if (!any_pci) info.args.push_back("--no-pci");
  if (!user_lcores) {
    // The configured worker lcores plus a main lcore; by default every CPU.
    if (!cfg.lcores.empty()) {
      std::vector<unsigned> ids;
      for (const config::LcoreConfig& l : cfg.lcores) ids.push_back(l.lcore);
      unsigned main = 0;
      while (std::find(ids.begin(), ids.end(), main) != ids.end() && main < 1024) ++main;
      // With few CPUs the main lcore may share a CPU with a worker:
      // --lcores maps lcore ids to CPUs explicitly.
      const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
      std::ostringstream l;
      l << main << "@" << (cpus > 0 ? main % cpus : 0);
      for (unsigned id : ids) l << "," << id << "@" << (cpus > 0 ? id % cpus : 0);
      info.args.push_back("--lcores=" + l.str());
    } else {
      const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
      info.args.push_back("-l");
      info.args.push_back(cpus > 1 ? fmt::format("0-{}", cpus - 1) : "0");
    }
  }
  for (const std::string& a : user_args) info.args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : info.args) argv.push_back(a.data());
  const int rc = rte_eal_init(static_cast<int>(argv.size()), argv.data());
  if (rc < 0) {
    std::string joined;
    for (const std::string& a : info.args) joined += " " + a;
    throw std::runtime_error(fmt::format("DPDK EAL initialisation failed: {} (arguments:{})",
                                         rte_strerror(rte_errno), joined));
  }
  return info;
}

}  // namespace skbpf::dataplane
