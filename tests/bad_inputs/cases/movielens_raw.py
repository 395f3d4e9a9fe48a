"""`recblocks data movielens --source DIR`: bad raw MovieLens files (ml-100k's
u.*, ml-1m's .dat, ml-25m's .csv).

Each error names the file, the line (and column) and the value, and says
what was expected; nothing is imported.
"""
import pathlib

from corpus import Case, fifo

USERS_1M = "1::F::1::10::48067\n2::M::56::16::70072\n"
MOVIES_1M = "1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n"
RATINGS_1M = "1::1::5::978300760\n2::2::3::978302109\n1::2::4::978301968\n"

GENRES = "".join(f"{g}|{i}\n" for i, g in enumerate(
    ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
     "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
     "Sci-Fi", "Thriller", "War", "Western"]))
ITEM = "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 18) + "|1\n"
ITEM2 = "2|GoldenEye (1995)|01-Jan-1995||http://y|0|1|" + "|".join(["0"] * 17) + "\n"
USER_100K = "1|24|M|technician|85711\n2|53|F|other|94043\n"
DATA_100K = "1\t1\t5\t874965758\n2\t2\t3\t888551015\n1\t2\t4\t875072484\n"

MOVIES_25M = 'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"Jumanji, The (1995)",Adventure\n'
RATINGS_25M = "userId,movieId,rating,timestamp\n1,1,4.5,1147880044\n2,2,0.5,1147868817\n"


def no_output(work: pathlib.Path):
    if (work / "out").exists() and any((work / "out").rglob("schema.json")):
        return "a refused import wrote a dataset"
    return None


def ml(name, variant, files, words, exit=1, **kw):
    argv = ["data", "movielens", "--variant", variant, "--source", "{dir}/raw", "--out",
            "{dir}/out", "--no-download"]
    return Case(name, argv, exit=exit, words=words,
                files={f"raw/{k}": v for k, v in files.items()},
                check=no_output if exit != 0 else None, **kw)


def ml1m(name, words, ratings=RATINGS_1M, users=USERS_1M, movies=MOVIES_1M, **kw):
    return ml(name, "ml-1m", {"ratings.dat": ratings, "users.dat": users, "movies.dat": movies},
              words, **kw)


def ml100k(name, words, data=DATA_100K, user=USER_100K, item=ITEM + ITEM2, genre=GENRES, **kw):
    return ml(name, "ml-100k", {"u.data": data, "u.user": user, "u.item": item, "u.genre": genre},
              words, **kw)


def ml25m(name, words, ratings=RATINGS_25M, movies=MOVIES_25M, **kw):
    return ml(name, "ml-25m", {"ratings.csv": ratings, "movies.csv": movies}, words, **kw)


def rating_1m(value):
    """ratings.dat whose second line rates `value`."""
    return f"1::1::5::978300760\n2::2::{value}::978302109\n"


R = "{dir}/raw/ratings.dat"
STARS = "expected a number of stars in [0.5, 5]"


def big_field(path: pathlib.Path) -> None:
    """u.data whose second line has a 10 MB movie id field."""
    path.write_bytes(b"1\t1\t5\t874965758\n2\t" + b"7" * 5_000_000 + b"x" * 5_000_000
                     + b"\t3\t888551015\n")


CASES = [
    # Ratings outside the declared domain (1..5 stars, half stars in ml-25m).
    ml1m("ml_rating_above_5", [R + ":2:7", STARS, "got '7'"], ratings=rating_1m("7")),
    ml1m("ml_rating_zero", [R + ":2:7", STARS, "got '0'"], ratings=rating_1m("0")),
    ml1m("ml_rating_negative", [R + ":2:7", STARS, "got '-1'"], ratings=rating_1m("-1")),
    ml1m("ml_rating_nan", [R + ":2:7", "rating: expected a finite number", "got 'nan'"],
         ratings=rating_1m("nan")),
    ml1m("ml_rating_inf", [R + ":2:7", "rating: expected a finite number", "got 'inf'"],
         ratings=rating_1m("inf")),
    ml1m("ml_rating_word", [R + ":2:7", "rating: expected a number", "got 'five'"],
         ratings=rating_1m("five")),
    ml1m("ml_rating_empty", [R + ":2:7", "rating: expected a number", "got ''"],
         ratings=rating_1m("")),
    ml25m("ml25m_rating_above_5", ["{dir}/raw/ratings.csv:4:5", STARS, "got '5.5'"],
          ratings=RATINGS_25M + "1,2,5.5,1147868818\n"),
    ml100k("ml100k_rating_nan", ["{dir}/raw/u.data:1:5", "expected a finite number", "got 'nan'"],
           data="1\t1\tnan\t874965758\n"),
    # Numbers out of range and malformed ids.
    ml1m("ml_movie_id_overflow",
         [R + ":1:4", "movieId: expected a 64-bit integer", "99999999999999999999", "out of range"],
         ratings="1::99999999999999999999::5::1\n"),
    ml1m("ml_user_id_word", [R + ":1:1", "userId: expected an integer", "got 'abc'"],
         ratings="abc::1::5::1\n"),
    ml1m("ml_timestamp_fraction", [R + ":1:10", "timestamp: expected an integer", "got '1.5'"],
         ratings="1::1::5::1.5\n"),
    ml1m("ml_age_word", ["{dir}/raw/users.dat:2:7", "Age: expected an integer", "got 'old'"],
         users="1::F::1::10::48067\n2::M::old::16::70072\n"),
    ml1m("ml_unknown_movie", [R + ":2:4", "movieId 9 is not in", "movies.dat"],
         ratings="1::1::5::1\n2::9::5::1\n"),
    ml1m("ml_unknown_user", [R + ":1:1", "userId 7 is not in", "users.dat"],
         ratings="7::1::5::1\n"),
    ml1m("ml_duplicate_movie", ["{dir}/raw/movies.dat:2:1", "movieId 1 appears twice"],
         movies="1::A (1)::Drama\n1::B (2)::Drama\n"),
    ml1m("ml_duplicate_user", ["{dir}/raw/users.dat:2:1", "userId 1 appears twice"],
         users="1::F::1::10::48067\n1::M::56::16::70072\n"),
    # Wrong field counts and truncated rows.
    ml1m("ml_ratings_three_fields",
         [R + ":2", "expected 4 fields 'UserID::MovieID::Rating::Timestamp', got 3"],
         ratings="1::1::5::1\n1::2::5\n"),
    ml1m("ml_ratings_truncated_last_line", [R + ":2", "expected 4 fields", "got 3"],
         ratings="1::1::5::1\n1::2::"),
    ml1m("ml_ratings_tab_separated", [R + ":1", "expected 4 fields", "got 1"],
         ratings="1\t1\t5\t1\n"),
    ml1m("ml_movies_two_fields", ["{dir}/raw/movies.dat:1", "expected 3 fields", "got 2"],
         movies="1::Toy Story (1995)\n"),
    ml100k("ml100k_item_23_fields", ["{dir}/raw/u.item:1", "expected 24 fields", "got 23"],
           item="1|T (1995)|01-Jan-1995||u|" + "|".join(["0"] * 18) + "\n"),
    ml100k("ml100k_genre_flag_2", ["{dir}/raw/u.item:1", "genre flag 'Western'",
                                   "expected 0 or 1", "got '2'"],
           item="1|T (1995)|01-Jan-1995||u|" + "|".join(["0"] * 18) + "|2\n"),
    ml100k("ml100k_genre_count", ["{dir}/raw/u.genre", "expected 19 genres, got 2"],
           genre="unknown|0\nAction|1\n"),
    ml100k("ml100k_genre_index", ["{dir}/raw/u.genre:2", "genre index: expected 1, got 5"],
           genre="unknown|0\nAction|5\n"),
    # Empty files.
    ml1m("ml_empty_ratings", [R, "no ratings", "UserID::MovieID::Rating::Timestamp"], ratings=""),
    ml1m("ml_blank_ratings", [R, "no ratings"], ratings="\n\n \n"),
    ml1m("ml_empty_movies", ["{dir}/raw/movies.dat", "no movies"], movies=""),
    ml1m("ml_empty_users", ["{dir}/raw/users.dat", "no users"], users=""),
    ml25m("ml25m_empty_ratings", ["{dir}/raw/ratings.csv", "empty file, expected the header",
                                  "userId,movieId,rating,timestamp"], ratings=""),
    ml25m("ml25m_header_only", ["{dir}/raw/ratings.csv", "no ratings"],
          ratings="userId,movieId,rating,timestamp\n"),
    # Headers, quotes, byte order marks and line endings (ml-25m's CSV).
    ml25m("ml25m_wrong_header", ["{dir}/raw/ratings.csv:1",
                                 "expected the header 'userId,movieId,rating,timestamp'",
                                 "got 'user,movie,rating,time'"],
          ratings="user,movie,rating,time\n1,1,4.0,1\n"),
    ml25m("ml25m_huge_header", ["{dir}/raw/ratings.csv:1", "expected the header",
                                "(3000000 bytes)"],
          ratings="u" * 3_000_000 + "\n1,1,4.0,1\n"),
    ml25m("ml25m_unterminated_quote", ["{dir}/raw/movies.csv:2:3", "unterminated quoted field"],
          movies='movieId,title,genres\n1,"Open (1995),Drama\n'),
    ml25m("ml25m_bom", ["train", "valid"], exit=0,
          ratings="\ufeff" + RATINGS_25M + "1,2,3.0,1147868818\n3,1,4.0,1147868819\n"
                  "3,2,1.0,1147868820\n4,1,2.0,1147868821\n"),
    ml1m("ml_crlf", ["train", "valid"], exit=0,
         ratings=(RATINGS_1M + "2::1::2::978302110\n").replace("\n", "\r\n"),
         users=USERS_1M.replace("\n", "\r\n"), movies=MOVIES_1M.replace("\n", "\r\n")),
    # Overlong and binary fields: an excerpt, escaped (a 10 MB field was echoed whole).
    ml100k("ml100k_10mb_field", ["{dir}/raw/u.data:2:3", "movieId: expected an integer",
                                 "(10000000 bytes)"], data=big_field),
    ml1m("ml_binary_rating", [R + ":1:7", "rating: expected a number", "\\x00\\x01"],
         ratings="1::1::\x00\x01::1\n"),
    ml100k("ml100k_latin1_user_field", ["{dir}/raw/u.user:1:3", "age: expected an integer",
                                        "got '\\xE9'"],
           user=None),
    # Missing and special files.
    ml1m("ml_missing_users", ["{dir}/raw", "lacks users.dat"], users=None),
    Case("ml_ratings_fifo",
         ["data", "movielens", "--variant", "ml-1m", "--source", "{dir}/raw", "--out", "{dir}/out",
          "--no-download"],
         words=["{dir}/raw", "ratings.dat"],
         files={"raw/ratings.dat": fifo, "raw/users.dat": USERS_1M, "raw/movies.dat": MOVIES_1M},
         timeout=20),
]

# Files given as None are left out, except the Latin-1 u.user (bytes).
for case in CASES:
    if case.name == "ml100k_latin1_user_field":
        case.files["raw/u.user"] = b"1|\xe9|M|technician|85711\n"
    for key in [k for k, v in case.files.items() if v is None]:
        del case.files[key]
