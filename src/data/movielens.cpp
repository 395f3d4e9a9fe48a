#include "recblocks/data/movielens.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <unordered_map>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/data/download.h"
#include "recblocks/data/sequences.h"
#include "recblocks/io/atomic.h"

namespace recblocks::datasets {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------
// Reading: a whole file in memory, line by line, with errors that name the
// file, the 1-based line and column, and what was expected.

class TextFile {
 public:
  explicit TextFile(const fs::path& path)
      : path_(path.string()), text_(std::make_shared<std::string>()) {
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    RB_CHECK(f != nullptr, Error, "{}: cannot open for reading", path_);
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    text_->resize(static_cast<std::size_t>(std::max(size, 0L)));
    const std::size_t got = std::fread(text_->data(), 1, text_->size(), f);
    std::fclose(f);
    RB_CHECK(size >= 0 && got == text_->size(), Error, "{}: read {} of {} bytes", path_, got, size);
    rest_ = *text_;
  }

  // The next line without its "\n" / "\r\n"; false at the end.
  bool next(std::string_view& line) {
    if (rest_.empty()) return false;
    const auto* nl = static_cast<const char*>(std::memchr(rest_.data(), '\n', rest_.size()));
    const std::size_t n =
        nl != nullptr ? static_cast<std::size_t>(nl - rest_.data()) : rest_.size();
    line = rest_.substr(0, n);
    rest_.remove_prefix(std::min(n + 1, rest_.size()));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_number_;
    line_ = line;
    return true;
  }

  // `at` lies inside the current line: its column is reported.
  [[noreturn]] void fail(std::string_view at, const std::string& what) const {
    const auto column = at.data() >= line_.data() && at.data() <= line_.data() + line_.size()
                            ? at.data() - line_.data() + 1
                            : 1;
    throw ValueError(fmt::format("{}:{}:{}: {}", path_, line_number_, column, what));
  }
  [[noreturn]] void fail_line(const std::string& what) const {
    throw ValueError(fmt::format("{}:{}: {}", path_, line_number_, what));
  }

  std::int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }
  std::shared_ptr<const std::string> text() const { return text_; }

 private:
  std::string path_;
  std::shared_ptr<std::string> text_;
  std::string_view rest_;
  std::string_view line_;
  std::int64_t line_number_ = 0;
};

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

// Splits `line` on `sep` into out; returns the number of fields (all of
// them, even past out.size()).
std::size_t split(std::string_view line, std::string_view sep, std::span<std::string_view> out) {
  std::size_t n = 0;
  while (true) {
    const std::size_t at = line.find(sep);
    const std::string_view field = line.substr(0, at);
    if (n < out.size()) out[n] = field;
    ++n;
    if (at == std::string_view::npos) return n;
    line.remove_prefix(at + sep.size());
  }
}

// Splits one CSV line (RFC 4180: fields optionally quoted, "" inside quotes
// is a quote). Quoted fields are returned without their quotes and still
// escaped; `escaped[i]` says whether field i holds "" to unescape.
std::size_t split_csv(const TextFile& file, std::string_view line, std::span<std::string_view> out,
                      std::span<bool> escaped) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (true) {
    std::string_view field;
    bool has_escapes = false;
    if (i < line.size() && line[i] == '"') {
      const std::size_t begin = i + 1;
      std::size_t j = begin;
      while (true) {
        j = line.find('"', j);
        if (j == std::string_view::npos) {
          file.fail(line.substr(i), "unterminated quoted field (expected a closing '\"')");
        }
        if (j + 1 < line.size() && line[j + 1] == '"') {
          has_escapes = true;
          j += 2;
          continue;
        }
        break;
      }
      field = line.substr(begin, j - begin);
      i = j + 1;
      if (i < line.size() && line[i] != ',') {
        file.fail(line.substr(i), "expected ',' after a quoted field");
      }
    } else {
      const std::size_t end = std::min(line.find(',', i), line.size());
      field = line.substr(i, end - i);
      i = end;
    }
    if (n < out.size()) {
      out[n] = field;
      escaped[n] = has_escapes;
    }
    ++n;
    if (i >= line.size()) return n;
    ++i;  // the comma
  }
}

void append_unescaped_csv(std::string& out, std::string_view field) {
  for (std::size_t i = 0; i < field.size(); ++i) {
    out += field[i];
    if (field[i] == '"' && i + 1 < field.size() && field[i + 1] == '"') ++i;
  }
}

// Latin-1 bytes -> UTF-8 (every byte is one code point).
void append_latin1(std::string& out, std::string_view in) {
  for (unsigned char c : in) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
}

std::int64_t parse_int(const TextFile& file, std::string_view field, std::string_view what) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size() || field.empty()) {
    file.fail(field, fmt::format("{}: expected an integer, got '{}'", what, field));
  }
  return v;
}

double parse_number(const TextFile& file, std::string_view field, std::string_view what) {
  double v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size() || field.empty() ||
      !std::isfinite(v)) {
    file.fail(field, fmt::format("{}: expected a number, got '{}'", what, field));
  }
  return v;
}

void expect_fields(const TextFile& file, std::size_t got, std::size_t expected,
                   std::string_view layout) {
  if (got != expected) {
    file.fail_line(fmt::format("expected {} fields '{}', got {}", expected, layout, got));
  }
}

// id -> entry of a table, failing on a repeated id.
class IdIndex {
 public:
  // false when `id` is already there.
  bool insert(std::int64_t id, std::int32_t entry) {
    if (id >= 0 && id < kFlatLimit) {
      const auto i = static_cast<std::size_t>(id);
      if (i >= flat_.size()) flat_.resize(std::max(i + 1, flat_.size() * 2), -1);
      if (flat_[i] >= 0) return false;
      flat_[i] = entry;
      return true;
    }
    return other_.emplace(id, entry).second;
  }
  std::int32_t find(std::int64_t id) const {
    if (id >= 0 && id < kFlatLimit) {
      const auto i = static_cast<std::size_t>(id);
      return i < flat_.size() ? flat_[i] : -1;
    }
    const auto it = other_.find(id);
    return it == other_.end() ? -1 : it->second;
  }

 private:
  static constexpr std::int64_t kFlatLimit = std::int64_t{1} << 24;
  std::vector<std::int32_t> flat_;
  std::unordered_map<std::int64_t, std::int32_t> other_;
};

// Keeps several buffers alive behind one shared_ptr<const void>.
std::shared_ptr<const void> keep_all(std::vector<std::shared_ptr<const void>> parts) {
  return std::make_shared<std::vector<std::shared_ptr<const void>>>(std::move(parts));
}

// ---------------------------------------------------------------------------
// Tables

struct Movies {
  std::vector<std::int64_t> ids;
  std::vector<std::string_view> titles;  // into titles_text (UTF-8)
  std::vector<std::string_view> genres;  // elements; into the file text
  std::vector<std::int64_t> genre_offsets{0};
  std::shared_ptr<const void> storage;
  IdIndex index;
};

struct Users {
  std::vector<std::int64_t> ids;
  std::vector<std::string_view> gender;
  std::vector<std::int64_t> age;
  std::vector<std::int64_t> occupation_codes;      // ml-1m
  std::vector<std::string_view> occupation_names;  // ml-100k
  std::vector<std::string_view> zipcode;
  std::shared_ptr<const void> storage;
  IdIndex index;
};

struct Ratings {
  std::vector<std::int64_t> user_ids;
  std::vector<std::int32_t> user_entries;  // with a users table
  std::vector<std::int32_t> movie_entries;
  std::vector<double> rating;
  std::vector<std::int64_t> timestamp;  // seconds since the epoch, as the files give it
};

// Titles are appended to one buffer, then viewed once it stops growing.
struct TitleBuffer {
  std::shared_ptr<std::string> text = std::make_shared<std::string>();
  std::vector<std::pair<std::size_t, std::size_t>> spans;

  void begin() { spans.emplace_back(text->size(), 0); }
  void end() { spans.back().second = text->size() - spans.back().first; }
  std::vector<std::string_view> views() const {
    std::vector<std::string_view> out;
    out.reserve(spans.size());
    for (const auto& [b, n] : spans) out.emplace_back(text->data() + b, n);
    return out;
  }
};

void add_movie_id(Movies& movies, const TextFile& file, std::string_view field) {
  const std::int64_t id = parse_int(file, field, "movieId");
  if (!movies.index.insert(id, static_cast<std::int32_t>(movies.ids.size()))) {
    file.fail(field, fmt::format("movieId {} appears twice", id));
  }
  movies.ids.push_back(id);
}

void add_user_id(Users& users, const TextFile& file, std::string_view field) {
  const std::int64_t id = parse_int(file, field, "userId");
  if (!users.index.insert(id, static_cast<std::int32_t>(users.ids.size()))) {
    file.fail(field, fmt::format("userId {} appears twice", id));
  }
  users.ids.push_back(id);
}

void split_genres(Movies& movies, std::string_view genres) {
  if (!genres.empty()) {
    while (true) {
      const std::size_t bar = genres.find('|');
      movies.genres.push_back(genres.substr(0, bar));
      if (bar == std::string_view::npos) break;
      genres.remove_prefix(bar + 1);
    }
  }
  movies.genre_offsets.push_back(static_cast<std::int64_t>(movies.genres.size()));
}

// ml-1m movies.dat: MovieID::Title::Genres (latin-1).
Movies read_movies_dat(const fs::path& path) {
  TextFile file(path);
  Movies movies;
  TitleBuffer titles;
  std::string_view line;
  std::array<std::string_view, 3> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, "::", f), 3, "MovieID::Title::Genres");
    add_movie_id(movies, file, f[0]);
    titles.begin();
    append_latin1(*titles.text, f[1]);
    titles.end();
    split_genres(movies, f[2]);
  }
  movies.titles = titles.views();
  movies.storage = keep_all({titles.text, file.text()});
  return movies;
}

// ml-100k u.genre: name|index, 19 genres.
std::vector<std::string_view> read_u_genre(TextFile& file) {
  std::vector<std::string_view> names;
  std::string_view line;
  std::array<std::string_view, 2> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, "|", f), 2, "name|index");
    const std::int64_t index = parse_int(file, f[1], "genre index");
    if (index != static_cast<std::int64_t>(names.size())) {
      file.fail(f[1], fmt::format("genre index: expected {}, got {}", names.size(), index));
    }
    names.push_back(f[0]);
  }
  return names;
}

// ml-100k u.item: id|title|release date|video release date|IMDb URL|19 flags (latin-1).
Movies read_u_item(const fs::path& path, const fs::path& genre_path) {
  TextFile genre_file(genre_path);
  const std::vector<std::string_view> genre_names = read_u_genre(genre_file);
  RB_CHECK(genre_names.size() == 19, ValueError, "{}: expected 19 genres, got {}",
           genre_file.path(), genre_names.size());
  TextFile file(path);
  Movies movies;
  TitleBuffer titles;
  std::string_view line;
  std::array<std::string_view, 24> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, "|", f), 24,
                  "movie id|movie title|release date|video release date|IMDb URL|19 genre flags");
    add_movie_id(movies, file, f[0]);
    titles.begin();
    append_latin1(*titles.text, f[1]);
    titles.end();
    for (std::size_t g = 0; g < 19; ++g) {
      const std::string_view flag = f[5 + g];
      if (flag == "1") {
        movies.genres.push_back(genre_names[g]);
      } else if (flag != "0") {
        file.fail(flag,
                  fmt::format("genre flag '{}': expected 0 or 1, got '{}'", genre_names[g], flag));
      }
    }
    movies.genre_offsets.push_back(static_cast<std::int64_t>(movies.genres.size()));
  }
  movies.titles = titles.views();
  movies.storage = keep_all({titles.text, genre_file.text(), file.text()});
  return movies;
}

// ml-25m / ml-latest-small movies.csv: movieId,title,genres (UTF-8, header).
void expect_header(TextFile& file, std::string_view expected) {
  std::string_view line;
  if (!file.next(line) || line != expected) {
    file.fail_line(fmt::format("expected the header '{}', got '{}'", expected, line));
  }
}

Movies read_movies_csv(const fs::path& path) {
  TextFile file(path);
  expect_header(file, "movieId,title,genres");
  Movies movies;
  TitleBuffer titles;
  std::string_view line;
  std::array<std::string_view, 3> f;
  std::array<bool, 3> escaped{};
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split_csv(file, line, f, escaped), 3, "movieId,title,genres");
    add_movie_id(movies, file, f[0]);
    titles.begin();
    if (escaped[1]) {
      append_unescaped_csv(*titles.text, f[1]);
    } else {
      titles.text->append(f[1]);
    }
    titles.end();
    split_genres(movies, f[2]);
  }
  movies.titles = titles.views();
  movies.storage = keep_all({titles.text, file.text()});
  return movies;
}

// ml-1m users.dat: UserID::Gender::Age::Occupation::Zip-code.
Users read_users_dat(const fs::path& path) {
  TextFile file(path);
  Users users;
  std::string_view line;
  std::array<std::string_view, 5> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, "::", f), 5, "UserID::Gender::Age::Occupation::Zip-code");
    add_user_id(users, file, f[0]);
    users.gender.push_back(f[1]);
    users.age.push_back(parse_int(file, f[2], "Age"));
    users.occupation_codes.push_back(parse_int(file, f[3], "Occupation"));
    users.zipcode.push_back(f[4]);
  }
  users.storage = file.text();
  return users;
}

// ml-100k u.user: user id|age|gender|occupation|zip code.
Users read_u_user(const fs::path& path) {
  TextFile file(path);
  Users users;
  std::string_view line;
  std::array<std::string_view, 5> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, "|", f), 5, "user id|age|gender|occupation|zip code");
    add_user_id(users, file, f[0]);
    users.age.push_back(parse_int(file, f[1], "age"));
    users.gender.push_back(f[2]);
    users.occupation_names.push_back(f[3]);
    users.zipcode.push_back(f[4]);
  }
  users.storage = file.text();
  return users;
}

// One rating: joins it onto the tables; unknown ids fail naming the line.
void add_rating(Ratings& r, const TextFile& file, const Movies& movies, const Users* users,
                const std::string& movies_path, const std::string& users_path,
                std::string_view user_field, std::string_view movie_field,
                std::string_view rating_field, std::string_view timestamp_field) {
  const std::int64_t user = parse_int(file, user_field, "userId");
  const std::int64_t movie = parse_int(file, movie_field, "movieId");
  const std::int32_t movie_entry = movies.index.find(movie);
  if (movie_entry < 0)
    file.fail(movie_field, fmt::format("movieId {} is not in {}", movie, movies_path));
  if (users != nullptr) {
    const std::int32_t user_entry = users->index.find(user);
    if (user_entry < 0)
      file.fail(user_field, fmt::format("userId {} is not in {}", user, users_path));
    r.user_entries.push_back(user_entry);
  }
  r.user_ids.push_back(user);
  r.movie_entries.push_back(movie_entry);
  r.rating.push_back(parse_number(file, rating_field, "rating"));
  r.timestamp.push_back(parse_int(file, timestamp_field, "timestamp"));
}

Ratings read_ratings(std::string_view variant, const fs::path& path, const Movies& movies,
                     const Users* users, const std::string& movies_path,
                     const std::string& users_path) {
  TextFile file(path);
  Ratings r;
  const std::size_t guess = file.text()->size() / 20;
  r.user_ids.reserve(guess);
  r.movie_entries.reserve(guess);
  r.rating.reserve(guess);
  r.timestamp.reserve(guess);
  if (users != nullptr) r.user_entries.reserve(guess);
  const bool csv = variant == "ml-25m" || variant == "ml-latest-small";
  if (csv) expect_header(file, "userId,movieId,rating,timestamp");
  const std::string_view sep = variant == "ml-100k" ? "\t" : variant == "ml-1m" ? "::" : ",";
  const std::string_view layout = variant == "ml-100k" ? "user id\\titem id\\trating\\ttimestamp"
                                  : variant == "ml-1m" ? "UserID::MovieID::Rating::Timestamp"
                                                       : "userId,movieId,rating,timestamp";
  std::string_view line;
  std::array<std::string_view, 4> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, sep, f), 4, layout);
    add_rating(r, file, movies, users, movies_path, users_path, f[0], f[1], f[2], f[3]);
  }
  return r;
}

void check_variant(std::string_view variant) {
  const auto& all = movielens_variants();
  if (std::find(all.begin(), all.end(), variant) == all.end()) {
    throw ValueError(
        fmt::format("MovieLens variant '{}': expected one of {}", variant, fmt::join(all, ", ")));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Public pieces

const std::vector<std::string>& movielens_variants() {
  static const std::vector<std::string> variants = {"ml-100k", "ml-1m", "ml-25m",
                                                    "ml-latest-small"};
  return variants;
}

std::vector<std::string> movielens_files(std::string_view variant) {
  check_variant(variant);
  if (variant == "ml-100k") return {"u.data", "u.user", "u.item", "u.genre"};
  if (variant == "ml-1m") return {"ratings.dat", "users.dat", "movies.dat"};
  return {"ratings.csv", "movies.csv"};
}

bool movielens_has_demographics(std::string_view variant) {
  check_variant(variant);
  return variant == "ml-100k" || variant == "ml-1m";
}

etl::RawTable read_movielens(std::string_view variant, const fs::path& raw_dir) {
  check_variant(variant);
  for (const std::string& name : movielens_files(variant)) {
    RB_CHECK(fs::is_regular_file(raw_dir / name), Error, "MovieLens {}: {} is missing", variant,
             (raw_dir / name).string());
  }
  Movies movies;
  Users users;
  fs::path ratings_path;
  fs::path movies_path;
  fs::path users_path;
  if (variant == "ml-100k") {
    movies_path = raw_dir / "u.item";
    users_path = raw_dir / "u.user";
    ratings_path = raw_dir / "u.data";
    movies = read_u_item(movies_path, raw_dir / "u.genre");
    users = read_u_user(users_path);
  } else if (variant == "ml-1m") {
    movies_path = raw_dir / "movies.dat";
    users_path = raw_dir / "users.dat";
    ratings_path = raw_dir / "ratings.dat";
    movies = read_movies_dat(movies_path);
    users = read_users_dat(users_path);
  } else {
    movies_path = raw_dir / "movies.csv";
    ratings_path = raw_dir / "ratings.csv";
    movies = read_movies_csv(movies_path);
  }
  const bool demographics = movielens_has_demographics(variant);
  Ratings r = read_ratings(variant, ratings_path, movies, demographics ? &users : nullptr,
                           movies_path.string(), users_path.string());

  etl::RawTable t;
  std::vector<std::int64_t> binary(r.rating.size());
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = r.rating[i] > 3 ? 1 : 0;
  t["userId"] = etl::RawColumn::of_ints(std::move(r.user_ids));
  t["movieId"] = etl::RawColumn::of_ints(movies.ids).indexed(r.movie_entries);
  t["title"] = etl::RawColumn::of_strings(movies.titles, movies.storage).indexed(r.movie_entries);
  t["genres"] = etl::RawColumn::of_string_lists(movies.genres, movies.genre_offsets, movies.storage)
                    .indexed(r.movie_entries);
  if (demographics) {
    const auto& u = r.user_entries;
    t["gender"] = etl::RawColumn::of_strings(users.gender, users.storage).indexed(u);
    t["age"] = etl::RawColumn::of_ints(users.age).indexed(u);
    t["occupation"] = (users.occupation_names.empty()
                           ? etl::RawColumn::of_ints(users.occupation_codes)
                           : etl::RawColumn::of_strings(users.occupation_names, users.storage))
                          .indexed(u);
    t["zipcode"] = etl::RawColumn::of_strings(users.zipcode, users.storage).indexed(u);
  }
  t["rating"] = etl::RawColumn::of_floats(std::move(r.rating));
  t["rating_binary"] = etl::RawColumn::of_ints(std::move(binary));
  t["timestamp"] = etl::RawColumn::of_ints(std::move(r.timestamp));
  return t;
}

etl::Workflow movielens_workflow(std::string_view variant) {
  const bool demographics = movielens_has_demographics(variant);
  etl::Workflow wf;
  wf.categorify({"userId"}, {}, TagSet{Tags::USER_ID})
      .categorify({"movieId"}, {}, TagSet{Tags::ITEM_ID})
      .categorify({"title"})
      .categorify({"genres"}, {}, TagSet{Tags::ITEM});
  if (demographics) wf.categorify({"gender", "age", "occupation", "zipcode"});
  const etl::TargetEncodingOptions te{.kfold = 5, .p_smooth = 20};
  wf.target_encoding({"movieId"}, "rating", te, TagSet{Tags::ITEM});
  if (demographics) {
    wf.target_encoding({"userId", "age", "gender", "occupation", "zipcode"}, "rating", te,
                       TagSet{Tags::USER});
  } else {
    wf.target_encoding({"userId"}, "rating", te, TagSet{Tags::USER});
  }
  wf.target("rating_binary", DType::kInt32, TagSet{Tags::BINARY_CLASSIFICATION})
      .target("rating", DType::kFloat32, TagSet{Tags::REGRESSION});
  return wf;
}

namespace {

// {rows not in valid, rows in valid}, both in file order: gathers stay
// sequential, and the loader shuffles anyway.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_of(
    const std::vector<std::uint8_t>& in_valid) {
  std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split;
  const auto valid = static_cast<std::size_t>(std::count(in_valid.begin(), in_valid.end(), 1));
  split.first.reserve(in_valid.size() - valid);
  split.second.reserve(valid);
  for (std::size_t r = 0; r < in_valid.size(); ++r) {
    (in_valid[r] ? split.second : split.first).push_back(static_cast<std::int64_t>(r));
  }
  return split;
}

}  // namespace

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_rows(std::int64_t rows,
                                                                           std::uint64_t seed,
                                                                           double valid_fraction) {
  RB_CHECK(valid_fraction > 0 && valid_fraction < 1, ValueError,
           "valid_fraction {}: expected a value in (0, 1)", valid_fraction);
  const auto n_valid =
      static_cast<std::int64_t>(std::llround(static_cast<double>(rows) * valid_fraction));
  // The last n_valid places of a Fisher-Yates shuffle: a uniform random
  // subset of rows (only those places need drawing).
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  Rng rng(seed);
  for (std::int64_t i = rows - 1; i >= rows - n_valid && i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng.next_u64() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t i = rows - n_valid; i < rows; ++i) {
    in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  }
  return split_of(in_valid);
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_leave_last_out(
    std::span<const std::int64_t> users, std::span<const std::int64_t> timestamps, int per_user) {
  RB_CHECK(users.size() == timestamps.size(), ValueError,
           "leave-last-out split: {} users but {} timestamps", users.size(), timestamps.size());
  RB_CHECK(per_user >= 1, ValueError, "leave-last-out split: per_user is {}, expected >= 1",
           per_user);
  const auto rows = static_cast<std::int64_t>(users.size());
  // Rows by (user, timestamp, row): each user's rows end with its latest.
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
    if (users[ua] != users[ub]) return users[ua] < users[ub];
    if (timestamps[ua] != timestamps[ub]) return timestamps[ua] < timestamps[ub];
    return a < b;
  });
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t begin = 0; begin < rows;) {
    std::int64_t end = begin + 1;
    const std::int64_t user =
        users[static_cast<std::size_t>(order[static_cast<std::size_t>(begin)])];
    while (end < rows &&
           users[static_cast<std::size_t>(order[static_cast<std::size_t>(end)])] == user)
      ++end;
    if (end - begin > per_user) {
      for (std::int64_t i = end - per_user; i < end; ++i)
        in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
    }
    begin = end;
  }
  return split_of(in_valid);
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_by_time(
    std::span<const std::int64_t> timestamps, double valid_fraction) {
  RB_CHECK(valid_fraction > 0 && valid_fraction < 1, ValueError,
           "valid_fraction {}: expected a value in (0, 1)", valid_fraction);
  const auto rows = static_cast<std::int64_t>(timestamps.size());
  const auto n_valid =
      static_cast<std::int64_t>(std::llround(static_cast<double>(rows) * valid_fraction));
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return timestamps[static_cast<std::size_t>(a)] < timestamps[static_cast<std::size_t>(b)];
  });
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t i = rows - n_valid; i < rows; ++i)
    in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  return split_of(in_valid);
}

const char* split_name(MovieLensSplit split) {
  switch (split) {
    case MovieLensSplit::kRandom: return "random";
    case MovieLensSplit::kLeaveLastOut: return "leave-last-out";
    case MovieLensSplit::kTime: return "time";
  }
  return "";
}

MovieLensSplit split_from_name(std::string_view name) {
  for (MovieLensSplit s :
       {MovieLensSplit::kRandom, MovieLensSplit::kLeaveLastOut, MovieLensSplit::kTime}) {
    if (name == split_name(s)) return s;
  }
  throw ValueError(
      fmt::format("MovieLens split '{}': expected random, leave-last-out or time", name));
}

fs::path locate_movielens(std::string_view variant, const fs::path& dir,
                          const MovieLensOptions& options) {
  const std::vector<std::string> files = movielens_files(variant);
  const auto has_all = [&](const fs::path& d) {
    return std::all_of(files.begin(), files.end(),
                       [&](const std::string& f) { return fs::is_regular_file(d / f); });
  };
  const auto missing = [&](const fs::path& d) {
    std::vector<std::string> out;
    for (const auto& f : files) {
      if (!fs::is_regular_file(d / f)) out.push_back(f);
    }
    return fmt::format("{}", fmt::join(out, ", "));
  };
  const fs::path raw_dir = dir / std::string(variant);
  const std::string file_list = fmt::format("{}", fmt::join(files, ", "));

  if (!options.source.empty()) {
    const fs::path& src = options.source;
    if (fs::is_directory(src)) {
      if (has_all(src)) return src;
      if (has_all(src / std::string(variant))) return src / std::string(variant);
      throw Error(fmt::format("MovieLens {}: source {} lacks {} (expected {} there or in {}/{})",
                              variant, src.string(), missing(src), file_list, src.string(),
                              variant));
    }
    RB_CHECK(fs::is_regular_file(src), Error,
             "MovieLens {}: source {} does not exist (expected a "
             "{}.zip or a folder holding {})",
             variant, src.string(), variant, file_list);
    unpack_zip(src, raw_dir, files);
    RB_CHECK(has_all(raw_dir), Error, "MovieLens {}: zip {} lacks {}", variant, src.string(),
             missing(raw_dir));
    return raw_dir;
  }
  if (has_all(raw_dir)) return raw_dir;
  if (has_all(dir)) return dir;

  const std::string url = movielens_url(variant);
  const std::string instructions = fmt::format(
      "download {} and unzip it into {} (it needs {}), or pass the zip or a folder holding the "
      "files as the source (--source ZIP_OR_DIR)",
      url, raw_dir.string(), file_list);
  RB_CHECK(options.download, Error, "MovieLens {}: raw files not found in {} ({} missing); {}",
           variant, raw_dir.string(), missing(raw_dir), instructions);
  const fs::path zip = dir / (std::string(variant) + ".zip");
  try {
    download_file(url, zip, {.progress = options.progress});
  } catch (const Error& e) {
    throw Error(
        fmt::format("MovieLens {}: raw files not found in {} and the download failed ({}); "
                    "{}",
                    variant, raw_dir.string(), e.what(), instructions));
  }
  unpack_zip(zip, raw_dir, files);
  std::error_code ignored;
  fs::remove(zip, ignored);
  RB_CHECK(has_all(raw_dir), Error, "MovieLens {}: the zip from {} lacks {}", variant, url,
           missing(raw_dir));
  return raw_dir;
}

namespace {

// What an import was made with; written last, so its presence also says
// the outputs are complete.
nlohmann::json import_record(std::string_view variant, const MovieLensOptions& options) {
  // Version 2 writes the timestamp column.
  nlohmann::json record = {{"format", "recblocks-movielens-import"},
                           {"version", 2},
                           {"variant", variant},
                           {"seed", options.seed},
                           {"valid_fraction", options.valid_fraction}};
  // Older records (random split only) have no "split": they still match.
  if (options.split != MovieLensSplit::kRandom) {
    record["split"] = split_name(options.split);
    record.erase("seed");  // only the random split draws
    if (options.split == MovieLensSplit::kLeaveLastOut) record.erase("valid_fraction");
  }
  if (options.history_length > 0) record["history_length"] = options.history_length;
  return record;
}

bool import_matches(const fs::path& out, const nlohmann::json& record) {
  const fs::path path = out / "import.json";
  if (!fs::is_regular_file(path) || !fs::is_regular_file(out / "train" / "schema.json") ||
      !fs::is_regular_file(out / "valid" / "schema.json") ||
      !fs::is_regular_file(out / "etl" / "workflow.json")) {
    return false;
  }
  std::ifstream in(path);
  const nlohmann::json existing = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return existing == record;
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_movielens(
    const etl::RawTable& raw, const MovieLensOptions& options) {
  switch (options.split) {
    case MovieLensSplit::kRandom:
      return split_rows(etl::num_rows(raw), options.seed, options.valid_fraction);
    case MovieLensSplit::kLeaveLastOut:
      return split_leave_last_out(raw.at("userId").ints, raw.at("timestamp").ints);
    case MovieLensSplit::kTime:
      return split_by_time(raw.at("timestamp").ints, options.valid_fraction);
  }
  throw Error("MovieLens: unknown split");
}

// `data` with the raw timestamps of its rows (TIME, int64).
Dataset with_timestamps(const Dataset& data, const etl::RawTable& raw,
                        std::span<const std::int64_t> rows) {
  const std::vector<std::int64_t>& all = raw.at("timestamp").ints;
  Tensor values = Tensor::empty({static_cast<std::int64_t>(rows.size())}, DType::kInt64);
  for (std::size_t i = 0; i < rows.size(); ++i)
    values.data<std::int64_t>()[i] = all[static_cast<std::size_t>(rows[i])];
  std::vector<ColumnSchema> schema(data.schema().begin(), data.schema().end());
  schema.emplace_back("timestamp", DType::kInt64, TagSet{Tags::TIME});
  std::map<std::string, Column> columns(data.columns().begin(), data.columns().end());
  columns["timestamp"] = Column{std::move(values), {}};
  return Dataset(Schema(std::move(schema)), std::move(columns));
}

}  // namespace

std::pair<Dataset, Dataset> movielens(std::string_view variant, const fs::path& dir,
                                      MovieLensOptions options) {
  check_variant(variant);
  RB_CHECK(options.valid_fraction > 0 && options.valid_fraction < 1, ValueError,
           "MovieLens: valid_fraction {}: expected a value in (0, 1)", options.valid_fraction);
  RB_CHECK(options.history_length >= 0, ValueError,
           "MovieLens: history_length is {}, expected >= 0", options.history_length);
  const fs::path out = dir / std::string(variant);
  const nlohmann::json record = import_record(variant, options);
  if (!options.overwrite && import_matches(out, record)) {
    return {Dataset::load(out / "train"), Dataset::load(out / "valid")};
  }

  const fs::path raw_dir = locate_movielens(variant, dir, options);
  const etl::RawTable raw = read_movielens(variant, raw_dir);
  const auto [train_rows, valid_rows] = split_movielens(raw, options);
  etl::Workflow workflow = movielens_workflow(variant);
  Dataset train =
      with_timestamps(workflow.fit_transform(etl::take(raw, train_rows)), raw, train_rows);
  Dataset valid = with_timestamps(workflow.transform(etl::take(raw, valid_rows)), raw, valid_rows);
  if (options.history_length > 0) {
    const HistoryOptions history{.max_length = options.history_length};
    valid = add_history(valid, history, &train);
    train = add_history(train, history);
  }

  std::error_code ignored;
  fs::remove(out / "import.json", ignored);
  workflow.save(out / "etl");
  valid.save(out / "valid");
  train.save(out / "train");
  io::write_file_atomic(out / "import.json", record.dump(1) + "\n");
  return {Dataset::load(out / "train"), Dataset::load(out / "valid")};
}

}  // namespace recblocks::datasets
