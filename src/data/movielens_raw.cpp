// The MovieLens raw files (movielens.h): ml-100k's u.*, ml-1m's .dat,
// ml-25m's and ml-latest-small's .csv, read into one etl::RawTable.
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

#include "data/movielens_internal.h"
#include "data/text_input.h"
#include "recblocks/core/error.h"
#include "recblocks/data/movielens.h"
#include "recblocks/io/paths.h"

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
    io::check_input_file(path);
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    RB_CHECK(f != nullptr, Error, "{}: cannot open for reading", path_);
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    text_->resize(static_cast<std::size_t>(std::max(size, 0L)));
    const std::size_t got = std::fread(text_->data(), 1, text_->size(), f);
    std::fclose(f);
    RB_CHECK(size >= 0 && got == text_->size(), Error, "{}: read {} of {} bytes", path_, got, size);
    rest_ = text_input::without_bom(*text_);
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
  if (ec == std::errc::result_out_of_range && end == field.data() + field.size()) {
    file.fail(field, fmt::format("{}: expected a 64-bit integer, got {} (out of range)", what,
                                 text_input::shown(field)));
  }
  if (ec != std::errc() || end != field.data() + field.size() || field.empty()) {
    file.fail(field,
              fmt::format("{}: expected an integer, got {}", what, text_input::shown(field)));
  }
  return v;
}

// MovieLens' ratings are stars: 1 to 5 (ml-100k, ml-1m), 0.5 to 5 in half
// stars (ml-25m, ml-latest-small).
constexpr double kMinRating = 0.5, kMaxRating = 5.0;

double parse_rating(const TextFile& file, std::string_view field) {
  double v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size() || field.empty()) {
    file.fail(field, fmt::format("rating: expected a number, got {}", text_input::shown(field)));
  }
  if (!std::isfinite(v)) {
    file.fail(field,
              fmt::format("rating: expected a finite number, got {}", text_input::shown(field)));
  }
  if (v < kMinRating || v > kMaxRating) {
    file.fail(field, fmt::format("rating: expected a number of stars in [{}, {}], got {}",
                                 kMinRating, kMaxRating, text_input::shown(field)));
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
  RB_CHECK(!movies.ids.empty(), ValueError, "{}: no movies, expected lines '{}'", file.path(),
           "MovieID::Title::Genres");
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
        file.fail(flag, fmt::format("genre flag {}: expected 0 or 1, got {}",
                                    text_input::shown(genre_names[g]), text_input::shown(flag)));
      }
    }
    movies.genre_offsets.push_back(static_cast<std::int64_t>(movies.genres.size()));
  }
  RB_CHECK(!movies.ids.empty(), ValueError, "{}: no movies, expected lines '{}'", file.path(),
           "movie id|movie title|release date|video release date|IMDb URL|19 genre flags");
  movies.titles = titles.views();
  movies.storage = keep_all({titles.text, genre_file.text(), file.text()});
  return movies;
}

// ml-25m / ml-latest-small movies.csv: movieId,title,genres (UTF-8, header).
void expect_header(TextFile& file, std::string_view expected) {
  std::string_view line;
  RB_CHECK(file.next(line), ValueError, "{}: empty file, expected the header '{}'", file.path(),
           expected);
  if (line != expected) {
    file.fail_line(
        fmt::format("expected the header '{}', got {}", expected, text_input::shown(line)));
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
  RB_CHECK(!movies.ids.empty(), ValueError, "{}: no movies, expected lines '{}'", file.path(),
           "movieId,title,genres");
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
  RB_CHECK(!users.ids.empty(), ValueError, "{}: no users, expected lines '{}'", file.path(),
           "UserID::Gender::Age::Occupation::Zip-code");
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
  RB_CHECK(!users.ids.empty(), ValueError, "{}: no users, expected lines '{}'", file.path(),
           "user id|age|gender|occupation|zip code");
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
  r.rating.push_back(parse_rating(file, rating_field));
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
  const std::string_view layout = variant == "ml-100k" ? R"(user id\titem id\trating\ttimestamp)"
                                  : variant == "ml-1m" ? "UserID::MovieID::Rating::Timestamp"
                                                       : "userId,movieId,rating,timestamp";
  std::string_view line;
  std::array<std::string_view, 4> f;
  while (file.next(line)) {
    if (blank(line)) continue;
    expect_fields(file, split(line, sep, f), 4, layout);
    add_rating(r, file, movies, users, movies_path, users_path, f[0], f[1], f[2], f[3]);
  }
  RB_CHECK(!r.rating.empty(), ValueError, "{}: no ratings, expected lines '{}'", file.path(),
           layout);
  return r;
}

}  // namespace

namespace detail {

void check_variant(std::string_view variant) {
  const auto& all = movielens_variants();
  if (std::find(all.begin(), all.end(), variant) == all.end()) {
    throw ValueError(
        fmt::format("MovieLens variant '{}': expected one of {}", variant, fmt::join(all, ", ")));
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Public pieces

const std::vector<std::string>& movielens_variants() {
  static const std::vector<std::string> kVariants = {"ml-100k", "ml-1m", "ml-25m",
                                                     "ml-latest-small"};
  return kVariants;
}

std::vector<std::string> movielens_files(std::string_view variant) {
  detail::check_variant(variant);
  if (variant == "ml-100k") return {"u.data", "u.user", "u.item", "u.genre"};
  if (variant == "ml-1m") return {"ratings.dat", "users.dat", "movies.dat"};
  return {"ratings.csv", "movies.csv"};
}

bool movielens_has_demographics(std::string_view variant) {
  detail::check_variant(variant);
  return variant == "ml-100k" || variant == "ml-1m";
}

etl::RawTable read_movielens(std::string_view variant, const fs::path& raw_dir) {
  detail::check_variant(variant);
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

}  // namespace recblocks::datasets
