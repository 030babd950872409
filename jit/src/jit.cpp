// skbpf::jit::Jit: compiles with the Compiler (compiler.h) and owns the code.
//
// Executable memory: the code is assembled into asmjit's CodeHolder,
// relocated for an address obtained with mmap(PROT_READ|PROT_WRITE), copied
// there and the pages made PROT_READ|PROT_EXEC with mprotect. asmjit's
// JitRuntime is not used: its JitAllocator maps pages RWX unless the
// hardened-runtime probe or dual mapping is set, and dual mapping still
// leaves a writable alias of executable pages.
#include "skbpf/jit/jit.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "compiler.h"
#include "skbpf/vm/disasm.h"

namespace skbpf::jit {

using namespace asmjit;
using detail::RunCtx;
using vm::LoadError;

namespace {

class ErrorRecorder : public ErrorHandler {
 public:
  void handleError(Error err, const char* message, BaseEmitter*) override {
    if (error == kErrorOk) {
      error = err;
      text = message;
    }
  }
  Error error = kErrorOk;
  std::string text;
};

// The listing for `skbpf disasm --jited`: each piece's offset in the code,
// the BPF instruction (as `skbpf disasm` prints it) and asmjit's x86 lines
// (with their bytes).
std::string format_listing(const vm::Program& program, const CodeHolder& code,
                           const std::vector<detail::ListingPiece>& pieces) {
  const auto& insns = program.insns();
  std::string out = "; jump and call targets: Ln is BPF instruction n\n";
  for (const auto& p : pieces) {
    const uint64_t at = code.labelOffsetFromBase(p.start);
    if (p.insn == SIZE_MAX) {
      out += fmt::format("{:>6x}:  ; {}\n", at, p.title);
    } else {
      out += fmt::format("{:>6x}: {:5}: {}\n", at, p.insn, vm::disasm_insn(insns, p.insn));
    }
    size_t pos = 0;
    while (pos < p.x86.size()) {
      size_t nl = p.x86.find('\n', pos);
      if (nl == std::string::npos) nl = p.x86.size();
      const std::string_view line(p.x86.data() + pos, nl - pos);
      // Labels L0..L(n-1) are the instructions (made first, in order): their
      // lines repeat the header; jumps name them ("jmp L12": to instruction 12).
      bool insn_label = false;
      if (line.size() >= 3 && line[0] == 'L' && line.back() == ':') {
        const size_t k = std::strtoul(std::string(line.substr(1)).c_str(), nullptr, 10);
        insn_label = k < insns.size();
      }
      if (!line.empty() && !insn_label) out += fmt::format("{:>14}{}\n", "", line);
      pos = nl + 1;
    }
  }
  return out;
}

}  // namespace

Jit::Jit(const vm::Program& program, const vm::Runtime& runtime_in, JitOptions options) {
  vm::Runtime runtime = runtime_in;
  if (runtime.helpers == nullptr) runtime.helpers = program.helpers();
  callx_table_.assign(vm::HelperTable::kMaxId, 0);
  if (runtime.helpers != nullptr) {
    for (uint32_t id = 0; id < vm::HelperTable::kMaxId; ++id) {
      if (const vm::HelperEntry* h = runtime.helpers->find(id)) {
        callx_table_[id] = reinterpret_cast<uint64_t>(h->fn);
      }
    }
  }
  detail::CompileEnv env;
  env.runtime = &runtime;
  env.callx_table = callx_table_.data();
  std::memcpy(&env.jit_vptr, static_cast<const void*>(this), sizeof(env.jit_vptr));
  env.tail_entry_offset = static_cast<int32_t>(reinterpret_cast<const char*>(&tail_entry_) -
                                               reinterpret_cast<const char*>(this));
  env.blind_constants = options.blind_constants;
  env.reach = options.reach;
  env.changes_pkt_data = options.changes_pkt_data;
  StringLogger logger;
  if (options.listing) {
    logger.addFlags(FormatFlags::kMachineCode | FormatFlags::kHexImms | FormatFlags::kHexOffsets);
    env.logger = &logger;
  }

  CodeHolder code;
  ErrorRecorder errors;
  code.init(Environment::host());
  code.setErrorHandler(&errors);
  if (env.logger != nullptr) code.setLogger(env.logger);
  x86::Assembler a(&code);
  detail::Compiler compiler(program, env, a);
  compiler.compile();
  if (errors.error != kErrorOk) {
    throw LoadError(LoadError::kNoInsn, std::string("asmjit: ") + errors.text);
  }
  code.flatten();
  code.resolveUnresolvedLinks();
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t estimate = code.codeSize();
  map_size_ = (estimate + page - 1) / page * page;
  void* mem = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw LoadError(LoadError::kNoInsn, "mmap of the code failed");
  mem_ = mem;
  if (code.relocateToBase(reinterpret_cast<uint64_t>(mem)) != kErrorOk ||
      errors.error != kErrorOk) {
    munmap(mem_, map_size_);
    throw LoadError(LoadError::kNoInsn, "asmjit: relocation failed: " + errors.text);
  }
  code_size_ = code.codeSize();
  code.copyFlattenedData(mem, code_size_, CopySectionFlags::kPadSectionBuffer);
  if (mprotect(mem, map_size_, PROT_READ | PROT_EXEC) != 0) {
    munmap(mem_, map_size_);
    throw LoadError(LoadError::kNoInsn, "mprotect of the code failed");
  }
  entry_ = reinterpret_cast<EntryFn>(mem);
  if (compiler.lean()) {
    lean_entry_ = reinterpret_cast<LeanFn>(static_cast<char*>(mem) +
                                           code.labelOffsetFromBase(compiler.lean_entry()));
  }
  if (compiler.has_burst()) {
    burst_entry_ = reinterpret_cast<BurstFn>(static_cast<char*>(mem) +
                                             code.labelOffsetFromBase(compiler.burst_entry()));
  }
  cb_tramp_ =
      static_cast<const char*>(mem) + code.labelOffsetFromBase(compiler.callback_trampoline());
  tail_entry_ = static_cast<const char*>(mem) + code.labelOffsetFromBase(compiler.main_entry());
  const auto& labels = compiler.insn_labels();
  insn_offsets_.resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    insn_offsets_[i] = static_cast<uint32_t>(code.labelOffsetFromBase(labels[i]));
  }
  if (options.listing) listing_ = format_listing(program, code, compiler.listing());
}

Jit::~Jit() {
  if (mem_ != nullptr) munmap(mem_, map_size_);
}

namespace {
void init_ctx(RunCtx* ctx, const void* cb_tramp) {
  *ctx = RunCtx{};
  ctx->site.call = &detail::call_back;
  ctx->depth = 1;
  ctx->cb_tramp = reinterpret_cast<uint64_t (*)(uint64_t, const uint64_t*, RunCtx*)>(
      const_cast<void*>(cb_tramp));
}
}  // namespace

vm::ExecStatus Jit::exec(const vm::ExecArgs& args, uint64_t* r0, vm::ExecError* error) const {
  if (lean_entry_ != nullptr) {
    *r0 = lean_entry_(args.r1, args.r2);
    return vm::ExecStatus::kOk;
  }
  RunCtx ctx;
  init_ctx(&ctx, cb_tramp_);
  const uint64_t ret = entry_(args.r1, args.r2, &ctx);
  if (ctx.status != 0) {
    if (error) {
      *error = vm::ExecError{};
      error->status = static_cast<vm::ExecStatus>(ctx.status);
      error->insn = ctx.insn;
      error->value = ctx.value;
    }
    return static_cast<vm::ExecStatus>(ctx.status);
  }
  *r0 = ret;
  return vm::ExecStatus::kOk;
}

uint32_t Jit::exec_burst(void* const ctxs[], uint64_t rcs[], uint32_t n) const {
  if (burst_entry_ != nullptr) {
    if (n != 0) burst_entry_(ctxs, rcs, n);
    return 0;
  }
  if (lean_entry_ != nullptr) {
    for (uint32_t i = 0; i < n; ++i) rcs[i] = lean_entry_(reinterpret_cast<uint64_t>(ctxs[i]), 0);
    return 0;
  }
  uint32_t failed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    RunCtx ctx;
    init_ctx(&ctx, cb_tramp_);
    const uint64_t ret = entry_(reinterpret_cast<uint64_t>(ctxs[i]), 0, &ctx);
    if (ctx.status != 0) {
      rcs[i] = 0;
      ++failed;
    } else {
      rcs[i] = ret;
    }
  }
  return failed;
}

}  // namespace skbpf::jit
