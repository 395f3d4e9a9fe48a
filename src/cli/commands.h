// The CLI's subcommands, one file each, registered on the app by main.cpp.
// Each register function adds its subcommand with a callback that does the
// work; errors are thrown as recblocks::Error and printed by main().
#pragma once

#include <CLI/CLI.hpp>

namespace recblocks::cli {

// `recblocks data movielens ...` (data_movielens.cpp)
void register_data_movielens(CLI::App& data);
// `recblocks data criteo|csv|synthetic ...` (data_import.cpp)
void register_data_import(CLI::App& data);
// `recblocks data convert ...` (data_convert.cpp)
void register_data_convert(CLI::App& data);
// `recblocks train|evaluate|predict` (model_commands.cpp)
void register_model_commands(CLI::App& app);
// `recblocks recommend` (recommend.cpp)
void register_recommend(CLI::App& app);
// `recblocks demo` (demo.cpp)
void register_demo(CLI::App& app);
// `recblocks schema convert` (schema_commands.cpp)
void register_schema(CLI::App& app);

}  // namespace recblocks::cli
