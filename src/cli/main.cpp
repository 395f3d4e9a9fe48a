// recblocks: the command-line tool. A thin shell over the public API: every
// subcommand does what a C++ program can do with <recblocks/recblocks.h>.
//
//   recblocks --help              the subcommands
//   recblocks --version
//   recblocks --threads 4 info    version, threads, backend, build settings
//   recblocks blocks              every block type's config keys (type, default, doc)
//   recblocks options             every task kind's and optimizer's JSON keys (same columns)
//   recblocks data movielens|criteo|csv|synthetic ...   build dataset directories
//   recblocks data convert ...     Parquet <-> dataset directories
//   recblocks train | evaluate | predict ...             the Model API
//   recblocks demo                 the seed notebook end to end
//   recblocks schema convert ...   schema files: recblocks' JSON, Merlin's pbtxt and JSON
//
// Errors: a recblocks::Error or a command-line error prints one line to
// stderr and exits non-zero (command-line errors with CLI11's exit code).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "datasets.h"
#include "flags.h"
#include "recblocks/recblocks.h"

namespace {

namespace rb = recblocks;

constexpr int kExitError = 1;

// `recblocks info`: what this binary runs with. The build settings come from
// CMake (src/cli/CMakeLists.txt), which configures the library and the CLI
// together.
void run_info() {
  fmt::print("recblocks {}\n", rb::kVersion);
  fmt::print("threads:  {}\n", rb::num_threads());
  const std::string details = rb::kernels::backend().details();
  fmt::print("backend:  {}{}\n", rb::kernels::backend().name(),
             details.empty() ? "" : " (" + details + ")");
  fmt::print("blas:     {} (build setting RECBLOCKS_BLAS)\n", RECBLOCKS_CLI_BLAS);
  fmt::print("build:    {}, {}, sanitizers {}\n", RECBLOCKS_CLI_BUILD_TYPE,
             RECBLOCKS_CLI_NATIVE ? "-march=native" : "portable x86-64-v2",
             RECBLOCKS_CLI_SANITIZE ? "on (ASan+UBSan)" : "off");
  fmt::print("parquet:  {}\n", rb::cli::parquet_info());
}

// One line for a command-line error, instead of CLI11's two.
std::string one_line_failure(const CLI::App* app, const CLI::Error& e) {
  return fmt::format("{}: {} (see '{} --help')\n", app->get_name(), e.what(), app->get_name());
}

// Parses the command line and runs the chosen subcommand; returns the exit code.
int run(int argc, char** argv) {
  CLI::App app{"recblocks: recommender models from composable blocks, trained fast on the CPU.",
               "recblocks"};
  app.set_version_flag("--version", std::string(rb::kVersion), "Print the version and exit");
  app.failure_message(one_line_failure);
  // Global options are accepted after a subcommand as well: `recblocks info --threads 2`.
  app.fallthrough();

  int threads = 0;
  CLI::Option* threads_option =
      app.add_option("--threads", threads,
                     "Number of threads (default: $RECBLOCKS_NUM_THREADS, else $OMP_NUM_THREADS, "
                     "else all cores)");

  // Checked, then applied as soon as it is parsed, before any subcommand's
  // callback runs (validators run in the order they are added). The check
  // accepts an integral "4e0", hence the conversion through double.
  threads_option->check(rb::cli::thread_count());
  threads_option->each(
      [](const std::string& value) { rb::set_num_threads(static_cast<int>(std::stod(value))); });

  CLI::App* info = app.add_subcommand("info", "Print the version, thread count and backend");
  CLI::App* blocks = app.add_subcommand(
      "blocks", "List every block type with its config keys: type, default and meaning");
  CLI::App* options = app.add_subcommand(
      "options",
      "List every task kind and optimizer with its JSON keys: type, default and meaning");
  CLI::App* data = app.add_subcommand("data", "Import raw data into a dataset directory");
  data->require_subcommand(1);
  rb::cli::register_data_movielens(*data);
  rb::cli::register_data_import(*data);
  rb::cli::register_data_convert(*data);
  rb::cli::register_model_commands(app);
  rb::cli::register_recommend(app);
  rb::cli::register_demo(app);
  rb::cli::register_schema(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (info->parsed()) {
    run_info();
    return 0;
  }
  if (blocks->parsed()) {
    std::fputs(rb::block_types_help().c_str(), stdout);
    return 0;
  }
  if (options->parsed()) {
    std::fputs(("tasks\n\n" + rb::task_kinds_help() + "\noptimizers\n\n" +
                rb::optim::optimizer_types_help())
                   .c_str(),
               stdout);
    return 0;
  }
  // A subcommand's callback did the work.
  for (const CLI::App* sub : app.get_subcommands()) {
    if (sub->parsed()) return 0;
  }
  std::fputs(app.help().c_str(), stdout);
  return kExitError;  // no subcommand: nothing was done
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const rb::Error& e) {
    std::fprintf(stderr, "recblocks: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recblocks: internal error: %s\n", e.what());
  } catch (...) {
    std::fputs("recblocks: internal error: unknown exception\n", stderr);
  }
  return kExitError;
}
