// Filters for taps and `skbpf replay --filter` (filter_program.h).
#include "skbpf/dataplane/filter_program.h"

#include <sys/stat.h>

#include <stdexcept>

#include <fmt/format.h>

namespace skbpf::dataplane {
namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A classic program as a one-program object whose section is `socket`, so
// that it goes through the verifier, the context rewriter and the JIT like
// any socket filter an ELF object brings.
vm::ElfObject classic_object(const std::vector<filter::CbpfInsn>& classic) {
  vm::ElfObject object;
  object.name = "filter";
  object.license = "GPL";
  vm::ElfProgram prog;
  prog.name = "filter";
  prog.section = "socket";
  prog.type = vm::ProgType::kSocketFilter;
  prog.insns = filter::convert_classic(classic);
  prog.functions.push_back({"filter", 0});
  object.programs.push_back(std::move(prog));
  return object;
}

}  // namespace

std::string FilterSpec::describe() const {
  switch (kind) {
    case Kind::kExpression:
      return text;
    case Kind::kClassicFile:
      return "cbpf:" + text;
    case Kind::kObject:
      return object + ":" + prog;
  }
  return text;
}

FilterSpec parse_filter_spec(const std::string& text) {
  FilterSpec spec;
  if (text.rfind("cbpf:", 0) == 0) {
    spec.kind = FilterSpec::Kind::kClassicFile;
    spec.text = text.substr(5);
    return spec;
  }
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos && colon + 1 < text.size() &&
      text.find(' ') == std::string::npos && is_file(text.substr(0, colon))) {
    spec.kind = FilterSpec::Kind::kObject;
    spec.object = text.substr(0, colon);
    spec.prog = text.substr(colon + 1);
    return spec;
  }
  spec.kind = FilterSpec::Kind::kExpression;
  spec.text = text;
  return spec;
}

LoadedFilter load_filter(const FilterSpec& spec, const ProgramSetOptions& options) {
  LoadedFilter out;
  out.spec = spec;
  if (spec.kind == FilterSpec::Kind::kObject) {
    out.set = ProgramSet::load(spec.object, options);
    out.prog = out.set->find(spec.prog);
    if (out.prog == nullptr) {
      std::string names;
      for (const auto& p : out.set->programs()) names += (names.empty() ? "" : ", ") + p->name;
      throw std::runtime_error(fmt::format("{}: no program '{}' (programs: {})", spec.object,
                                           spec.prog, names.empty() ? "none" : names));
    }
    if (out.prog->type != vm::ProgType::kSocketFilter) {
      throw std::runtime_error(fmt::format(
          "{}: program '{}' (section {}) is a {} program; a filter must be a socket_filter "
          "(SEC(\"socket\")): its return value is the number of bytes to keep",
          spec.object, spec.prog, out.prog->section, vm::prog_type_name(out.prog->type)));
    }
    return out;
  }
  const std::string label = spec.kind == FilterSpec::Kind::kExpression
                                ? fmt::format("filter '{}'", spec.text)
                                : spec.text;
  out.classic = spec.kind == FilterSpec::Kind::kExpression
                    ? filter::compile_expression(spec.text, spec.snaplen)
                    : filter::read_classic_file(spec.text);
  filter::check_classic(out.classic, label);
  ProgramSetOptions classic_options = options;
  classic_options.pins = nullptr;  // a classic program has no maps
  out.set = ProgramSet::load_object(classic_object(out.classic), label, classic_options);
  out.prog = out.set->programs().front().get();
  return out;
}

}  // namespace skbpf::dataplane
