// The verifier's static passes over the control-flow graph, before any
// path is walked: the CFG check (check_cfg + check_subprogs: jumps inside
// the program and their subprogram, no jump into an LD_IMM64, registers in
// range, nothing unreachable, no falling off a subprogram), static register
// liveness, and which instructions lie on a cycle.
#include <fmt/format.h>

#include <algorithm>

#include "verifier/state.h"

namespace skbpf::vm::verifier {

// check_cfg() + check_subprogs(): every jump lands inside the program, no
// path falls off the end, and every instruction is reachable from the entry
// (bounded loops are fine; the exploration limits them).
void Verifier::check_cfg() {
  const size_t n = insns_.size();
  if (n == 0) throw VerifyError{0, "empty program"};
  // Register fields name r0-r10 (check_reg_arg); an instruction's unused
  // fields are zero or refused later, so any larger number is invalid. (The
  // state arrays have 11 registers: nothing may index past them.)
  for (size_t i = 0; i < n; i++) {
    const Insn& in = insns_[i];
    if (in.dst >= kNumRegs) throw VerifyError{i, fmt::format("R{} is invalid", int{in.dst})};
    if (in.src >= kNumRegs && in.code != op::kLdImm64 && in.code != op::kCallCode)
      throw VerifyError{i, fmt::format("R{} is invalid", int{in.src})};
    if (is_ld_imm64(in)) i++;
  }
  // Subprograms (check_subprogs): the entry and every bpf-to-bpf call or
  // function-pointer target; a jump may not leave its subprogram.
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < n; i++) {
    const Insn& in = insns_[i];
    const int64_t t = static_cast<int64_t>(i) + in.imm + 1;
    if ((is_local_call(in) || (is_ld_imm64(in) && in.src == op::kPseudoFunc)) && t >= 0 &&
        t < static_cast<int64_t>(n))
      starts.push_back(static_cast<size_t>(t));
    if (is_ld_imm64(in)) i++;
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  auto subprog_of = [&](size_t i) {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), i) - starts.begin());
  };
  std::vector<uint8_t> second_half(n, 0);  // of an LD_IMM64
  for (size_t i = 0; i + 1 < n; i++)
    if (is_ld_imm64(insns_[i])) second_half[++i] = 1;
  std::vector<uint8_t> seen(n, 0);
  std::vector<size_t> work{0};
  seen[0] = 1;
  prune_point_.assign(n, 0);
  auto visit = [&](size_t from, int64_t to) {
    if (to < 0 || to >= static_cast<int64_t>(n))
      throw VerifyError{from, fmt::format("jump out of range from insn {} to {}", from, to)};
    const bool enters_function =
        std::binary_search(starts.begin(), starts.end(), size_t(to)) &&
        (is_local_call(insns_[from]) ||
         (is_ld_imm64(insns_[from]) && insns_[from].src == op::kPseudoFunc));
    if (!enters_function && subprog_of(from) != subprog_of(static_cast<size_t>(to)))
      throw VerifyError{from, fmt::format("jump out of range from insn {} to {}", from, to)};
    if (second_half[to])
      throw VerifyError{from, fmt::format("jump into the middle of ldimm64 insn {}", to - 1)};
    if (!seen[to]) {
      seen[to] = 1;
      work.push_back(static_cast<size_t>(to));
    }
  };
  while (!work.empty()) {
    size_t i = work.back();
    work.pop_back();
    const Insn& in = insns_[i];
    if (in.code == op::kExitCode) continue;
    if (is_ja(in)) {
      visit(i, jump_target(in, i));
      prune_point_[jump_target(in, i)] = 1;
      continue;
    }
    if (is_cond_jmp(in)) {
      visit(i, jump_target(in, i));
      prune_point_[jump_target(in, i)] = 1;
      if (i + 1 < n) prune_point_[i + 1] = 1;
    }
    if (is_local_call(in)) visit(i, static_cast<int64_t>(i) + in.imm + 1);
    size_t next = i + (is_ld_imm64(in) ? 2 : 1);
    if (is_ld_imm64(in) && in.src == op::kPseudoFunc) {
      visit(i, static_cast<int64_t>(i) + in.imm + 1);
      prune_point_[i + in.imm + 1] = 1;  // a callback's entry: where its iterations converge
    }
    if (next >= n || subprog_of(next) != subprog_of(i))
      throw VerifyError{i, "last insn is not an exit or jmp"};
    visit(i, static_cast<int64_t>(next));
  }
  for (size_t i = 0; i < n; i++) {
    if (!seen[i]) throw VerifyError{i, fmt::format("unreachable insn {}", i)};
    if (is_ld_imm64(insns_[i])) i++;
  }
}

// Backward may-read analysis over the CFG: bit r of live_in_[i] is set when
// some path from i reads r before writing it. Registers that are not live
// cannot influence safety, so pruning ignores them (what the kernel learns
// per path with REG_LIVE_READ marks, computed here once, statically).
void Verifier::compute_liveness() {
  const size_t n = insns_.size();
  std::vector<uint16_t> use(n, 0), def(n, 0);
  std::vector<std::array<int64_t, 2>> succ(n, {-1, -1});
  constexpr uint16_t kArgs = 0x3e, kCallerSaved = 0x3f;
  for (size_t i = 0; i < n; i++) {
    const Insn& in = insns_[i];
    uint8_t c = op::cls(in.code);
    uint16_t d = uint16_t(1u << in.dst), s = uint16_t(1u << in.src);
    size_t next = i + (is_ld_imm64(in) ? 2 : 1);
    if (next < n) succ[i][0] = static_cast<int64_t>(next);
    switch (c) {
      case op::kAlu:
      case op::kAlu64: {
        uint8_t o = op::alu_op(in.code);
        if (o != op::kMov) use[i] |= d;
        if (op::src_bit(in.code) == op::kX && o != op::kNeg && o != op::kEnd) use[i] |= s;
        def[i] = d;
        break;
      }
      case op::kLdx:
        use[i] = s;
        def[i] = d;
        break;
      case op::kSt:
        use[i] = d;
        break;
      case op::kStx:
        use[i] = d | s;
        if (op::mode(in.code) == op::kAtomic) {
          if (in.imm == op::kAtomicCmpXchg) {
            use[i] |= 1;
            def[i] = 1;
          } else if (in.imm & op::kFetch) {
            def[i] = s;
          }
        }
        break;
      case op::kLd:
        if (is_ld_imm64(in)) {
          def[i] = d;
        } else {  // LD_ABS / LD_IND
          use[i] = uint16_t(1u << 6) | (op::mode(in.code) == op::kInd ? s : 0);
          def[i] = kCallerSaved;
        }
        break;
      default:  // JMP, JMP32
        if (in.code == op::kExitCode) {
          use[i] = 1;
          succ[i][0] = -1;
        } else if (in.code == op::kCallCode) {
          use[i] = kArgs;
          if (in.src == op::kPseudoHelper && env_.helper) {
            const HelperProto* p = env_.helper(in.imm);
            use[i] = 0;
            for (int a = 0; p && a < 5 && p->args[a] != ArgType::kDontCare; a++)
              use[i] |= uint16_t(1u << (a + 1));
          }
          def[i] = kCallerSaved;
        } else if (is_ja(in)) {
          succ[i][0] = jump_target(in, i);
        } else if (is_cond_jmp(in)) {
          use[i] = d | (op::src_bit(in.code) == op::kX ? s : 0);
          succ[i][1] = jump_target(in, i);
        }
    }
  }
  mark_loops(succ);
  live_in_.assign(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = n; i-- > 0;) {
      uint16_t out = 0;
      for (int64_t s : succ[i])
        if (s >= 0) out |= live_in_[s];
      uint16_t in = uint16_t(use[i] | (out & ~def[i]));
      if (in != live_in_[i]) {
        live_in_[i] = in;
        changed = true;
      }
    }
  }
}

// Instructions on a cycle of the control-flow graph (a nontrivial strongly
// connected component, Tarjan's algorithm without recursion). Widening is
// not applied there: widening a loop's counter can keep the loop from
// converging where the exact walk ends (measured: progs' ex_room went from
// 3,639 to over 1,000,000 instructions processed).
void Verifier::mark_loops(const std::vector<std::array<int64_t, 2>>& succ) {
  const size_t n = succ.size();
  in_loop_.assign(n, 0);
  std::vector<int64_t> index(n, -1), low(n, 0);
  std::vector<uint8_t> on_stack(n, 0);
  std::vector<size_t> stack;
  std::vector<std::pair<size_t, int>> work;  // (node, next successor to visit)
  int64_t counter = 0;
  for (size_t root = 0; root < n; root++) {
    if (index[root] >= 0) continue;
    work.emplace_back(root, 0);
    while (!work.empty()) {
      auto& [v, k] = work.back();
      if (k == 0 && index[v] < 0) {
        index[v] = low[v] = counter++;
        stack.push_back(v);
        on_stack[v] = 1;
      }
      if (k < 2) {
        const int64_t w = succ[v][k++];
        if (w < 0) continue;
        if (index[w] < 0) {
          work.emplace_back(static_cast<size_t>(w), 0);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const size_t done = v;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
      if (low[done] != index[done]) continue;
      size_t members = 0, w;
      const size_t bottom = stack.size();
      do {
        w = stack[stack.size() - 1 - members];
        members++;
      } while (w != done);
      const bool self_loop = succ[done][0] == int64_t(done) || succ[done][1] == int64_t(done);
      for (size_t m = bottom - members; m < bottom; m++) {
        on_stack[stack[m]] = 0;
        if (members > 1 || self_loop) in_loop_[stack[m]] = 1;
      }
      stack.resize(bottom - members);
    }
  }
}

}  // namespace skbpf::vm::verifier
