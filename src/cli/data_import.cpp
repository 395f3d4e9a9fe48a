#include "commands.h"
namespace recblocks::cli {
void register_data_import(CLI::App&) {}
}  // namespace recblocks::cli
