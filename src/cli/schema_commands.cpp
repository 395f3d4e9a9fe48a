// `recblocks schema convert`: reads a schema file in any form Schema::load
// reads (recblocks' schema.json, Merlin's schema.pbtxt or proto-JSON) and
// writes it in the form --format names, printing the columns:
//
//   recblocks schema convert --input workflow/output_schema.pbtxt --out schema.json
//   recblocks schema convert --input data/train/schema.json --out schema.pbtxt
//   recblocks schema convert --input schema.json --out merlin.json --format merlin-json
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "commands.h"
#include "flags.h"
#include "recblocks/core/error.h"
#include "recblocks/io/paths.h"
#include "recblocks/schema/schema.h"

namespace recblocks::cli {
namespace {

struct ConvertArgs {
  std::string input, out, format = "auto";
  bool overwrite = false;
};

// "auto": Merlin's text format for a .pbtxt (.textproto, .txtpb, .prototxt)
// name, recblocks' schema.json otherwise.
SchemaFormat output_format(const ConvertArgs& a) {
  if (a.format != "auto") return parse_schema_format(a.format);
  const std::string ext = std::filesystem::path(a.out).extension().string();
  const bool text = ext == ".pbtxt" || ext == ".textproto" || ext == ".txtpb" || ext == ".prototxt";
  return text ? SchemaFormat::kMerlinPbtxt : SchemaFormat::kRecblocks;
}

void run_convert(const ConvertArgs& a) {
  io::check_output({"--out", a.out, io::OutputKind::kFile}, {{"--input", a.input}}, a.overwrite);
  const SchemaFormat format = output_format(a);
  const Schema schema = Schema::load(a.input);
  // Missing parent directories are made, as for the other commands' outputs.
  const std::filesystem::path parent = std::filesystem::path(a.out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  RB_CHECK(!ec, Error, "--out {}: cannot create the directory {}: {}", quoted_excerpt(a.out),
           quoted_excerpt(parent.string()), ec.message());
  schema.save(a.out, format);
  std::ostringstream columns;
  columns << schema;
  fmt::print("schema convert: wrote {} ({}) from {}\n{}", a.out, schema_format_name(format),
             a.input, columns.str());
}

}  // namespace

void register_schema(CLI::App& app) {
  CLI::App* schema = app.add_subcommand("schema", "Read and convert schema files");
  schema->require_subcommand(1);
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = schema->add_subcommand(
      "convert",
      "Convert a schema file between recblocks' schema.json and Merlin's schema.pbtxt or "
      "proto-JSON (any of them is read)");
  cmd->add_option("--input", args->input,
                  "The schema file: recblocks' schema.json, Merlin's schema.pbtxt or schema.json")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "The file to write")->required();
  cmd->add_option("--format", args->format,
                  "recblocks, merlin-pbtxt, merlin-json, or auto: merlin-pbtxt for a .pbtxt "
                  "--out, recblocks otherwise")
      ->check(CLI::IsMember({"auto", "recblocks", "merlin-pbtxt", "merlin-json"}))
      ->capture_default_str();
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->callback([args] { run_convert(*args); });
}

}  // namespace recblocks::cli
