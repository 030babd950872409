// skbpf's static verifier against this machine's kernel verifier: every
// program is loaded with bpf(BPF_PROG_LOAD) (license "GPL") and checked with
// vm::verifier::verify (the real __sk_buff model and helper catalogue), and
// the two verdicts (accepted / refused) must be equal.
//
// Two sets: the sched_cls / socket_filter rows of the verifier's table
// (vm/tests/verifier/verifier_cases.h; a row marked kernel_differs must
// differ), and ~2,000 seeded generated programs (packet bound checks with
// off-by-one variations, stack writes and reads, map lookups and value
// bounds, global data). Generated classes where the kernel deliberately
// judges otherwise are listed in kKnownDifferences with the reason; their
// programs must differ exactly as documented.
//
// The maps of the table are created in the kernel (same type, sizes, flags;
// .rodata frozen after its initial value is written) and the LD_IMM64 map
// references rewritten: src 5 -> BPF_PSEUDO_MAP_FD, src 6 ->
// BPF_PSEUDO_MAP_VALUE.
//
// Needs bpf() (root, or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON); the tests
// skip, saying why, where a trivial program cannot be loaded.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "skbpf/helpers/catalogue.h"
#include "skbpf/skb/ctx_rewrite.h"
#include "skbpf/vm/verifier.h"
#include "verifier/verifier_cases.h"

namespace skbpf::vm::verifier {
namespace {

using namespace table;            // NOLINT(google-build-using-namespace)
using namespace skbpf::vm::test;  // NOLINT(google-build-using-namespace)

static_assert(sizeof(Insn) == sizeof(struct bpf_insn), "the vm's encoding is the kernel's");

long sys_bpf(int cmd, union bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

bpf_prog_type kernel_type(ProgType t) {
  return t == ProgType::kSocketFilter ? BPF_PROG_TYPE_SOCKET_FILTER : BPF_PROG_TYPE_SCHED_CLS;
}

// The table's maps as kernel maps (fds by map index).
class KernelMaps {
 public:
  explicit KernelMaps(const std::vector<MapDef>& defs) {
    for (const MapDef& d : defs) {
      union bpf_attr attr;
      std::memset(&attr, 0, sizeof(attr));
      attr.map_type = d.type;
      attr.key_size = d.key_size;
      attr.value_size = d.value_size;
      attr.max_entries = d.max_entries;
      attr.map_flags = d.flags;
      const long fd = sys_bpf(BPF_MAP_CREATE, &attr);
      if (fd < 0) {
        error_ = "BPF_MAP_CREATE " + d.name + ": " + std::strerror(errno);
        return;
      }
      fds_.push_back(static_cast<int>(fd));
      if (!d.initial_value.empty()) {
        uint32_t key = 0;
        std::memset(&attr, 0, sizeof(attr));
        attr.map_fd = static_cast<uint32_t>(fd);
        attr.key = reinterpret_cast<uintptr_t>(&key);
        attr.value = reinterpret_cast<uintptr_t>(d.initial_value.data());
        if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
          error_ = "BPF_MAP_UPDATE_ELEM " + d.name + ": " + std::strerror(errno);
          return;
        }
      }
      if (d.flags & BPF_F_RDONLY_PROG) {  // .rodata: frozen, as libbpf does
        std::memset(&attr, 0, sizeof(attr));
        attr.map_fd = static_cast<uint32_t>(fd);
        if (sys_bpf(BPF_MAP_FREEZE, &attr) < 0) {
          error_ = "BPF_MAP_FREEZE " + d.name + ": " + std::strerror(errno);
          return;
        }
      }
    }
  }
  ~KernelMaps() {
    for (const int fd : fds_) close(fd);
  }
  KernelMaps(const KernelMaps&) = delete;
  KernelMaps& operator=(const KernelMaps&) = delete;

  const std::string& error() const { return error_; }

  // src 5 -> BPF_PSEUDO_MAP_FD, src 6 -> BPF_PSEUDO_MAP_VALUE (the second
  // slot's imm, the offset, stays); a bad index becomes fd -1.
  std::vector<Insn> resolve(const std::vector<Insn>& insns) const {
    std::vector<Insn> out = insns;
    for (Insn& i : out) {
      if (i.code != op::kLdImm64) continue;
      if (i.src != op::kPseudoMapIdx && i.src != op::kPseudoMapIdxValue) continue;
      const uint8_t src = i.src == op::kPseudoMapIdx ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
      const int32_t fd = i.imm >= 0 && static_cast<size_t>(i.imm) < fds_.size() ? fds_[i.imm] : -1;
      i = Insn::make(i.code, i.dst, src, i.off, fd);
    }
    return out;
  }

 private:
  std::vector<int> fds_;
  std::string error_;
};

struct KernelVerdict {
  int err = 0;  // 0: accepted, else the errno of the refusal
  std::string log;
};

// Loads `insns` (map references resolved); with `log`, at log_level 1 into
// a 1 MiB buffer.
KernelVerdict kernel_load(ProgType type, const std::vector<Insn>& insns, bool log) {
  static const char kLicense[] = "GPL";
  std::string buf(log ? (1u << 20) : 0u, '\0');
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = kernel_type(type);
  attr.insns = reinterpret_cast<uintptr_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uintptr_t>(kLicense);
  if (log) {
    attr.log_level = 1;
    attr.log_buf = reinterpret_cast<uintptr_t>(buf.data());
    attr.log_size = static_cast<uint32_t>(buf.size());
  }
  KernelVerdict v;
  const long fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    v.err = errno;
  } else {
    close(static_cast<int>(fd));
  }
  if (log) v.log = buf.c_str();
  return v;
}

// "" if bpf(BPF_PROG_LOAD) works here, else why not.
std::string kernel_unavailable(ProgType type) {
  const KernelVerdict v = kernel_load(type, {mov64_imm(0, 0), exit_insn()}, false);
  if (v.err == 0) return "";
  return std::string("bpf(BPF_PROG_LOAD) refuses even a trivial ") +
         std::string(prog_type_name(type)) + " program: " + std::strerror(v.err) + " (errno " +
         std::to_string(v.err) + ")";
}

Result skbpf_verify(ProgType type, const std::vector<MapDef>& maps, const Prog& p,
                    int log_level = 0) {
  Env env;
  env.type = type;
  env.ctx = skb::verifier_ctx_model(type);
  env.maps = maps;
  env.helper = [type](int32_t id) { return helpers::verifier_proto(id, type); };
  env.log_level = log_level;
  return verify(p, env);
}

std::string disasm(const Prog& p) {
  std::ostringstream os;
  for (size_t i = 0; i < p.size(); i++) {
    os << "  " << i << ": code=0x" << std::hex << int(p[i].code) << std::dec
       << " dst=" << int(p[i].dst) << " src=" << int(p[i].src) << " off=" << p[i].off
       << " imm=" << p[i].imm << "\n";
  }
  return os.str();
}

// Both verdicts and logs, for a failure message.
std::string explain(ProgType type, const std::vector<MapDef>& maps, const KernelMaps& kmaps,
                    const Prog& p) {
  const Result ours = skbpf_verify(type, maps, p, 1);
  const KernelVerdict k = kernel_load(type, kmaps.resolve(p), true);
  std::ostringstream os;
  os << "program:\n"
     << disasm(p) << "skbpf: " << (ours.ok ? "accepted" : "refused: " + ours.reason) << "\nkernel: "
     << (k.err == 0 ? std::string("accepted") : "refused: " + std::string(std::strerror(k.err)))
     << "\nskbpf log:\n"
     << ours.log << "\nkernel log:\n"
     << k.log;
  return os.str();
}

// --- the table ---

std::vector<Case> kernel_cases() {
  std::vector<Case> out;
  for (Case& c : cases()) {
    if (c.type == ProgType::kSchedCls || c.type == ProgType::kSocketFilter) {
      out.push_back(std::move(c));
    }
  }
  return out;
}

class VerifierKernelCase : public ::testing::TestWithParam<Case> {};

TEST_P(VerifierKernelCase, SameVerdictAsTheKernel) {
  const Case& c = GetParam();
  if (const std::string why = kernel_unavailable(c.type); !why.empty()) GTEST_SKIP() << why;
  const std::vector<MapDef> maps = test_maps();
  const KernelMaps kmaps(maps);
  ASSERT_EQ(kmaps.error(), "");
  const Result verdict = skbpf_verify(c.type, maps, c.prog);
  const bool ours = verdict.ok;
  const bool kernel = kernel_load(c.type, kmaps.resolve(c.prog), false).err == 0;
  if (c.kernel_differs == nullptr) {
    EXPECT_EQ(ours, kernel) << explain(c.type, maps, kmaps, c.prog);
  } else {
    // skbpf's side of a documented difference is the table's verdict.
    EXPECT_EQ(ours, c.ok) << verdict.reason;
    if (!c.ok) {
      EXPECT_NE(verdict.reason.find(c.reason), std::string::npos) << verdict.reason;
    }
    EXPECT_NE(ours, kernel) << "documented difference (" << c.kernel_differs
                            << ") no longer holds\n"
                            << explain(c.type, maps, kmaps, c.prog);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, VerifierKernelCase, ::testing::ValuesIn(kernel_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// --- generated programs ---

struct Generated {
  std::string cls;  // the class, for the known-difference list and the counts
  Prog prog;
};

uint8_t size_code(uint32_t size) {
  return size == 1 ? kB : size == 2 ? kH : size == 4 ? kW : kDW;
}

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  template <typename T>
  T pick(std::initializer_list<T> v) {
    return v.begin()[below(static_cast<uint32_t>(v.size()))];
  }

  // r2 = data; r3 = data_end; r4 = r2 + N; if (r4 op r3) or (r3 op r4)
  // goto taken; one side accesses [r2 + M, S) (or [r4 + M - N, S)).
  Generated packet() {
    const int32_t n = static_cast<int32_t>(below(40));
    const uint8_t jop =
        pick({op::kJgt, op::kJge, op::kJlt, op::kJle, op::kJgt, op::kJge, op::kJlt, op::kJle,
              op::kJgt, op::kJge, op::kJlt, op::kJle, op::kJeq, op::kJne, op::kJsgt, op::kJslt});
    const bool end_first = below(2) == 1;
    const bool on_taken = below(2) == 1;
    const uint32_t size = pick({1u, 2u, 4u, 8u});
    int32_t m;  // offset from data
    switch (below(3)) {
      case 0:  // around the proven end
        m = n - static_cast<int32_t>(size) + static_cast<int32_t>(below(3)) - 1;
        break;
      case 1:
        m = static_cast<int32_t>(below(48));
        break;
      default:
        m = n - static_cast<int32_t>(size);
        break;
    }
    const bool via_r4 = below(4) == 0;
    const bool store = below(3) == 0;
    const uint8_t base = via_r4 ? 4 : 2;
    const int16_t off = static_cast<int16_t>(via_r4 ? m - n : m);
    Prog access = store ? prog({st_imm(size_code(size), base, off, 1)})
                        : prog({ldx(size_code(size), 5, base, off)});
    Prog side_access = access;
    side_access.push_back(mov64_imm(0, 0));
    side_access.push_back(exit_insn());
    const Prog side_plain = ret0();
    const Prog& fall = on_taken ? side_plain : side_access;
    const Prog& taken = on_taken ? side_access : side_plain;
    Prog p =
        prog({ldx(kW, 2, 1, 76), ldx(kW, 3, 1, 80), mov64_reg(4, 2), alu64_imm(op::kAdd, 4, n)});
    const int16_t skip = static_cast<int16_t>(fall.size());
    p.push_back(end_first ? jmp_reg(jop, 3, 4, skip) : jmp_reg(jop, 4, 3, skip));
    p.insert(p.end(), fall.begin(), fall.end());
    p.insert(p.end(), taken.begin(), taken.end());
    std::string cls = "packet/";
    cls += jop == op::kJeq    ? "jeq"
           : jop == op::kJne  ? "jne"
           : jop == op::kJsgt ? "signed"
           : jop == op::kJslt ? "signed"
                              : "ordered";
    return {cls, p};
  }

  // 0-3 stack writes (st or stx, sizes 1-8, mostly aligned), one read.
  Generated stack() {
    Prog p;
    const int writes = static_cast<int>(below(4));
    std::vector<std::pair<int16_t, uint32_t>> written;
    bool misaligned = false;
    for (int w = 0; w < writes; w++) {
      const uint32_t size = pick({1u, 2u, 4u, 8u});
      int16_t off =
          static_cast<int16_t>(-static_cast<int32_t>(size) * static_cast<int32_t>(1 + below(8)));
      if (below(10) == 0) {
        off = static_cast<int16_t>(off - 1);
        misaligned = misaligned || size > 1;
      }
      if (below(2) == 0) {
        p.push_back(st_imm(size_code(size), 10, off, static_cast<int32_t>(below(100))));
      } else {
        p.push_back(mov64_imm(6, static_cast<int32_t>(below(100))));
        p.push_back(stx(size_code(size), 10, 6, off));
      }
      written.push_back({off, size});
    }
    const uint32_t size = pick({1u, 2u, 4u, 8u});
    int16_t off;
    if (!written.empty() && below(3) != 0) {
      off = written[below(static_cast<uint32_t>(written.size()))].first;
    } else {
      off = static_cast<int16_t>(-static_cast<int32_t>(size) * static_cast<int32_t>(1 + below(8)));
    }
    if (below(8) == 0) off = static_cast<int16_t>(off + pick({-520, 8, 1, -1}));
    p.push_back(ldx(size_code(size), 0, 10, off));
    p.push_back(exit_insn());
    // Is every byte read written before?
    bool init = true;
    for (int32_t b = off; b < off + static_cast<int32_t>(size); b++) {
      bool hit = false;
      for (const auto& [woff, wsize] : written) {
        hit = hit || (b >= woff && b < woff + static_cast<int32_t>(wsize));
      }
      init = init && hit;
    }
    std::string cls = "stack/";
    cls += misaligned ? "misaligned-write" : init ? "initialized-read" : "uninitialized-read";
    return {cls, p};
  }

  // A lookup in the hash (value 8) or array (value 16) map, null-checked,
  // not, or checked the wrong way round; then an access at a value
  // boundary.
  Generated map() {
    const int32_t map = below(2) == 0 ? kHash : kArray;
    const int32_t vs = map == kHash ? 8 : 16;
    const uint32_t size = pick({1u, 2u, 4u, 8u});
    const int32_t off =
        pick({-1, 0, 1, vs - static_cast<int32_t>(size) - 1, vs - static_cast<int32_t>(size),
              vs - static_cast<int32_t>(size) + 1, vs, static_cast<int32_t>(below(20))});
    const bool store = below(3) == 0;
    const Insn access = store ? st_imm(size_code(size), 0, static_cast<int16_t>(off), 1)
                              : ldx(size_code(size), 1, 0, static_cast<int16_t>(off));
    const int check = static_cast<int>(below(5));  // 0-2 checked, 3 none, 4 inverted
    Prog p = lookup(map);
    if (check <= 2) {
      p.push_back(jmp_imm(op::kJeq, 0, 0, 1));
    } else if (check == 4) {
      p.push_back(jmp_imm(op::kJne, 0, 0, 1));
    }
    p.push_back(access);
    p.push_back(mov64_imm(0, 0));
    p.push_back(exit_insn());
    std::string cls = map == kHash ? "map/hash/" : "map/array/";
    cls += check <= 2 ? "checked" : check == 3 ? "unchecked" : "inverted-check";
    return {cls, p};
  }

  // A pointer into .data / .rodata (value 16) at offset V, then an access.
  Generated global() {
    const int32_t map = below(2) == 0 ? kData : kRodata;
    const int32_t v = static_cast<int32_t>(below(18));
    const uint32_t size = pick({1u, 2u, 4u, 8u});
    const int32_t off =
        pick({-1, 0, 1, 16 - v - static_cast<int32_t>(size), 17 - v - static_cast<int32_t>(size)});
    const bool store = below(2) == 0;
    Prog p = prog({ld_imm64_pseudo(1, op::kPseudoMapIdxValue, map, v)});
    p.push_back(store ? st_imm(size_code(size), 1, static_cast<int16_t>(off), 1)
                      : ldx(size_code(size), 0, 1, static_cast<int16_t>(off)));
    p.push_back(mov64_imm(0, 0));
    p.push_back(exit_insn());
    return {map == kData ? "global/data" : "global/rodata", p};
  }

 private:
  std::mt19937 rng_;
};

std::vector<Generated> generate(uint32_t seed) {
  Generator g(seed);
  std::vector<Generated> out;
  for (int i = 0; i < 800; i++) out.push_back(g.packet());
  for (int i = 0; i < 500; i++) out.push_back(g.stack());
  for (int i = 0; i < 500; i++) out.push_back(g.map());
  for (int i = 0; i < 200; i++) out.push_back(g.global());
  return out;
}

constexpr uint32_t kSeed = 20261201;

// Generated classes the kernel deliberately judges otherwise: every program
// of the class whose verdicts differ must differ this way (skbpf's verdict
// given), and their number with kSeed on this machine's kernel
// (6.18) is `count`.
struct KnownDifference {
  const char* cls;
  size_t count;
  bool skbpf_ok;          // skbpf's verdict in the mismatches; the kernel's is the other
  const char* skbpf_why;  // when skbpf refuses: a substring of its reason
  const char* reason;
};
const KnownDifference kKnownDifferences[] = {
    {"stack/uninitialized-read", 209, false, "invalid read from stack off",
     "the privileged kernel (allow_uninit_stack, CAP_PERFMON) reads uninitialized stack bytes as "
     "unknown scalars (check_stack_read_fixed_off); skbpf refuses them as the unprivileged "
     "kernel does"},
};

const KnownDifference* known_difference(const std::string& cls, const Result& ours) {
  for (const KnownDifference& k : kKnownDifferences) {
    if (cls == k.cls && ours.ok == k.skbpf_ok &&
        (ours.ok || ours.reason.find(k.skbpf_why) != std::string::npos)) {
      return &k;
    }
  }
  return nullptr;
}

TEST(VerifierKernelGenerated, SameVerdictsAsTheKernel) {
  if (const std::string why = kernel_unavailable(ProgType::kSchedCls); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::vector<MapDef> maps = test_maps();
  const KernelMaps kmaps(maps);
  ASSERT_EQ(kmaps.error(), "");
  const auto t0 = std::chrono::steady_clock::now();
  struct Count {
    size_t programs = 0, accepted = 0, agree = 0, known = 0, unexplained = 0;
  };
  std::map<std::string, Count> counts;
  size_t shown = 0;
  std::map<int, size_t> errnos;  // the kernel's refusals by errno (0: accepted)
  for (const Generated& g : generate(kSeed)) {
    const Result verdict = skbpf_verify(ProgType::kSchedCls, maps, g.prog);
    const bool ours = verdict.ok;
    const int err = kernel_load(ProgType::kSchedCls, kmaps.resolve(g.prog), false).err;
    const bool kernel = err == 0;
    ++errnos[err];
    Count& c = counts[g.cls];
    ++c.programs;
    c.accepted += kernel;
    if (ours == kernel) {
      ++c.agree;
    } else if (known_difference(g.cls, verdict) != nullptr) {
      ++c.known;
    } else {
      ++c.unexplained;
      if (shown++ < 10) {
        ADD_FAILURE() << "class " << g.cls << ": skbpf " << (ours ? "accepts" : "refuses")
                      << ", the kernel " << (kernel ? "accepts" : "refuses") << "\n"
                      << explain(ProgType::kSchedCls, maps, kmaps, g.prog);
      }
    }
  }
  size_t total = 0, unexplained = 0, accepted = 0;
  for (const auto& [cls, c] : counts) {
    std::cout << "[ class    ] " << cls << ": " << c.programs << " programs, " << c.accepted
              << " accepted by the kernel, " << c.agree << " agree, " << c.known
              << " known differences, " << c.unexplained << " unexplained\n";
    total += c.programs;
    unexplained += c.unexplained;
    accepted += c.accepted;
  }
  for (const KnownDifference& k : kKnownDifferences) {
    const auto it = counts.find(k.cls);
    const size_t n = it == counts.end() ? 0 : it->second.known;
    // At most the count measured on this machine's kernel (6.18): a kernel
    // that agrees more is fine, a new difference of this kind is not.
    EXPECT_LE(n, k.count) << "known difference " << k.cls << ": " << k.reason;
    std::cout << "[ known    ] " << k.cls << " (skbpf " << (k.skbpf_ok ? "accepts" : "refuses")
              << "): " << n << " programs: " << k.reason << "\n";
  }
  for (const auto& [err, n] : errnos) {
    std::cout << "[ kernel   ] " << (err == 0 ? "accepted" : std::strerror(err)) << ": " << n
              << "\n";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ compared ] " << total << " programs in " << secs << " s\n";
  EXPECT_EQ(unexplained, 0u);
  // Both verdicts must occur for the comparison to mean something.
  EXPECT_GT(accepted, total / 5);
  EXPECT_LT(accepted, total * 4 / 5);
  RecordProperty("programs", static_cast<int>(total));
}

}  // namespace
}  // namespace skbpf::vm::verifier
