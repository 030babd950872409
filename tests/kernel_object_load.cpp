// The kernel side of verifier_matrix_test (kernel_object_load.h).
#include "kernel_object_load.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

namespace skbpf::oracle {
namespace {

// libbpf's messages for the current load (warnings and info; its debug
// messages are a page per load and say nothing a refusal needs).
std::string g_libbpf_log;

int capture_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  const int n = vsnprintf(buf, sizeof(buf), fmt, args);
  g_libbpf_log += buf;
  return n;
}

struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using ObjectPtr = std::unique_ptr<bpf_object, ObjectCloser>;

ObjectPtr open_object(const std::string& path, std::string* error) {
  g_libbpf_log.clear();
  ObjectPtr obj(bpf_object__open_file(path.c_str(), nullptr));
  if (!obj) {
    const int err = errno;
    *error = "bpf_object__open_file: " + std::string(std::strerror(err)) + "\n" + g_libbpf_log;
    return obj;
  }
  // The kernel is only asked for its verdict: maps an object pins
  // (LIBBPF_PIN_BY_NAME) are created unpinned, leaving nothing in bpffs.
  bpf_map* map;
  bpf_object__for_each_map(map, obj.get()) bpf_map__set_pin_path(map, nullptr);
  return obj;
}

// The kernel's log is kept whole up to 16 MiB (log level 1 on a refused
// program of a few thousand instructions stays far below); beyond, the
// kernel keeps the tail, which holds the reason.
constexpr size_t kLogSize = 16u << 20;

KernelProgram load_one(const std::string& path, size_t index, std::string& log_buf) {
  KernelProgram out;
  std::string error;
  ObjectPtr obj = open_object(path, &error);
  if (!obj) {
    out.log = error;
    return out;
  }
  bpf_program* target = nullptr;
  size_t k = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj.get()) {
    if (k++ == index) {
      target = prog;
    } else {
      bpf_program__set_autoload(prog, false);
    }
  }
  if (target == nullptr) {
    out.log = "program " + std::to_string(index) + " vanished on reopening";
    return out;
  }
  out.name = bpf_program__name(target);
  log_buf.assign(kLogSize, '\0');
  // Log level 0 with a buffer: libbpf loads without a log and, only if the
  // kernel refuses, loads again at level 1 into the buffer.
  bpf_program__set_log_buf(target, log_buf.data(), log_buf.size());
  g_libbpf_log.clear();
  const int err = bpf_object__load(obj.get());
  if (err == 0) {
    out.verdict = KernelVerdict::kAccepted;
    return out;
  }
  out.err = -err;
  const std::string kernel_log(log_buf.c_str());
  // libbpf reports a refused BPF_PROG_LOAD as "prog 'NAME': BPF program load
  // failed"; any other failure (map creation, BTF, relocation) stops the load
  // before the kernel verifier has run on the program.
  const std::string marker = "prog '" + out.name + "': BPF program load failed";
  if (g_libbpf_log.find(marker) != std::string::npos) {
    out.verdict = KernelVerdict::kRefused;
  } else if (g_libbpf_log.find("failed to initialize slot") != std::string::npos) {
    // A program array initialised in the object (`.values = {[1] = &prog}`)
    // refers to a program this load left out. libbpf fills program arrays
    // only after every program to load has been accepted (bpf_object_load:
    // create maps, load programs, then init_prog_arrays), so the kernel
    // accepted this one.
    out.verdict = KernelVerdict::kAccepted;
    out.err = 0;
    return out;
  } else {
    out.verdict = KernelVerdict::kOther;
  }
  out.log = kernel_log + (kernel_log.empty() ? "" : "\n") + "libbpf: " + g_libbpf_log;
  return out;
}

}  // namespace

std::string bpf_refused() {
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "matrix_probe", 4, 4, 1, nullptr);
  if (fd >= 0) {
    close(fd);
    return "";
  }
  const int err = errno;
  return std::string("bpf(BPF_MAP_CREATE) refused: ") + std::strerror(err) +
         (err == EPERM ? " (needs root or CAP_BPF, and kernel.unprivileged_bpf_disabled)" : "");
}

KernelObject kernel_load_programs(const std::string& path) {
  KernelObject result;
  libbpf_set_print(capture_log);
  result.skip_reason = bpf_refused();
  if (!result.skip_reason.empty()) return result;

  // All programs at once first: when the kernel accepts them all (the usual
  // case), that is every verdict, and program arrays initialised in the
  // object find their programs.
  std::vector<std::string> names;
  {
    ObjectPtr obj = open_object(path, &result.open_error);
    if (!obj) return result;
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj.get()) names.emplace_back(bpf_program__name(prog));
    g_libbpf_log.clear();
    if (bpf_object__load(obj.get()) == 0) {
      for (const std::string& name : names)
        result.programs.push_back({name, KernelVerdict::kAccepted, 0, ""});
      return result;
    }
  }
  std::string log_buf;
  for (size_t i = 0; i < names.size(); ++i) result.programs.push_back(load_one(path, i, log_buf));
  return result;
}

KernelProgram kernel_load_socket_filter(const std::vector<uint8_t>& insn_bytes) {
  KernelProgram out;
  std::vector<bpf_insn> insns(insn_bytes.size() / sizeof(bpf_insn));
  std::memcpy(insns.data(), insn_bytes.data(), insns.size() * sizeof(bpf_insn));
  // Without a log first (as libbpf loads), then at level 1 if refused.
  int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "conformance", "GPL", insns.data(),
                         insns.size(), nullptr);
  if (fd >= 0) {
    close(fd);
    out.verdict = KernelVerdict::kAccepted;
    return out;
  }
  out.err = errno;
  std::string log(kLogSize, '\0');
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 1,
              .log_size = static_cast<uint32_t>(log.size()), .log_buf = log.data());
  fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "conformance", "GPL", insns.data(), insns.size(),
                     &opts);
  if (fd >= 0) {  // cannot happen: the verifier is deterministic
    close(fd);
    out.verdict = KernelVerdict::kOther;
    out.log =
        "refused without a log (" + std::string(std::strerror(out.err)) + "), accepted with one";
    return out;
  }
  out.verdict = KernelVerdict::kRefused;
  out.log = log.c_str();
  return out;
}

}  // namespace skbpf::oracle
