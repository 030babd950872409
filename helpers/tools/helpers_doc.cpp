// Prints docs/helpers.md from the helper catalogue.
#include <cstdio>

#include "skbpf/helpers/catalogue.h"

int main() {
  const std::string md = skbpf::helpers::helpers_markdown();
  std::fwrite(md.data(), 1, md.size(), stdout);
  return 0;
}
