// smsc-dump: reads and decodes the SMSC's persistent message store (storage/dump/dump.h,
// docs/STORAGE.md "smsc-dump"). A thin main: argv, SSH_ORIGINAL_COMMAND and the standard streams.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "storage/dump/dump.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return cp::storage::dump::dump_main(args, std::getenv("SSH_ORIGINAL_COMMAND"), std::cout,
                                      std::cerr);
}
