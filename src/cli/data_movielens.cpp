#include "commands.h"
namespace recblocks::cli {
void register_data_movielens(CLI::App&) {}
}  // namespace recblocks::cli
