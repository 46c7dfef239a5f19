// JSON: strict parsing, exact integers, key order, escapes/UTF-8, hostile-input limits, writer round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "qforge/io/json.hpp"

using namespace qforge;

static std::string parse_error(const std::string& text, const JsonParseOptions& opt = {}) {
  auto r = Json::parse(text, opt);
  if (r.ok()) return "<parsed ok>";
  return r.error().message;
}

static bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST_CASE("json parses every kind of value and keeps object key order") {
  auto r = Json::parse(R"( {"z": 1, "a": [true, false, null, -0.5, 1e3, "x"], "m": {}} )");
  REQUIRE(r.ok());
  const Json& j = *r;
  REQUIRE(j.is_object());
  REQUIRE(j.size() == 3);
  CHECK(j.as_object()[0].first == "z");
  CHECK(j.as_object()[1].first == "a");
  CHECK(j.as_object()[2].first == "m");
  const Json& a = *j.find("a");
  REQUIRE(a.size() == 6);
  CHECK(a[0].as_bool() == true);
  CHECK(a[1].as_bool() == false);
  CHECK(a[2].is_null());
  CHECK(a[3].as_double() == -0.5);
  CHECK_FALSE(a[3].is_integer());
  CHECK(a[4].as_double() == 1000.0);
  CHECK(a[4].is_int_valued());
  CHECK(a[4].as_int() == 1000);
  CHECK(a[5].as_string() == "x");
  CHECK(j.find("m")->is_object());
  CHECK(j.find("m")->size() == 0);
  CHECK(j.find("nope") == nullptr);
  CHECK(j.get_int("z").value() == 1);
  CHECK(contains(j.get_int("a").error().message, "key 'a' must be an integer"));
  CHECK(contains(j.get_string("q").error().message, "missing key 'q'"));
}

TEST_CASE("json integers are exact over the whole int64 range") {
  auto r = Json::parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, 12345678901234567]");
  REQUIRE(r.ok());
  CHECK((*r)[0].is_integer());
  CHECK((*r)[0].as_int() == INT64_MAX);
  CHECK((*r)[1].as_int() == INT64_MIN);
  CHECK_FALSE((*r)[2].is_integer());  // beyond int64: kept as double
  CHECK((*r)[2].as_double() == 9223372036854775808.0);
  CHECK_FALSE((*r)[2].is_int_valued());
  CHECK((*r)[3].as_int() == 12345678901234567);  // not representable in a double
  Json w = Json::array();
  w.push_back(INT64_MAX);
  w.push_back(INT64_MIN);
  CHECK(w.dump() == "[9223372036854775807,-9223372036854775808]");
}

TEST_CASE("json doubles round-trip exactly through the writer") {
  const double vals[] = {0.1, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -2.5e-8, double(0.1f), 123456.789};
  for (double v : vals) {
    Json j(v);
    auto back = Json::parse(j.dump());
    REQUIRE(back.ok());
    CHECK(back->as_double() == v);
  }
  CHECK(Json(std::nan("")).dump() == "null");
  CHECK(Json(INFINITY).dump() == "null");
  // Tiny exponents underflow to zero; huge ones are an error.
  CHECK(Json::parse("1e-400")->as_double() == 0.0);
  CHECK(contains(parse_error("1e400"), "out of range"));
}

TEST_CASE("json strings: escapes, surrogate pairs, UTF-8 validation") {
  auto r = Json::parse(R"("a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000")");
  REQUIRE(r.ok());
  std::string expect = std::string("a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") + std::string(1, '\0');
  CHECK(r->as_string() == expect);
  // Writer escapes and the result parses back to the same bytes.
  auto back = Json::parse(r->dump());
  REQUIRE(back.ok());
  CHECK(back->as_string() == expect);
  CHECK(Json(std::string("\x01")).dump() == "\"\\u0001\"");
  // Raw UTF-8 passes; bad UTF-8 and bad escapes fail with offsets.
  CHECK(Json::parse("\"\xC3\xA9\"").ok());
  CHECK(contains(parse_error("\"ab\xC3\""), "invalid UTF-8"));
  CHECK(contains(parse_error("\"ab\xC3\""), "at byte 3"));
  CHECK(contains(parse_error("\"\xC0\xAF\""), "invalid UTF-8"));      // overlong '/'
  CHECK(contains(parse_error("\"\xED\xA0\x80\""), "invalid UTF-8"));  // encoded surrogate
  CHECK(contains(parse_error("\"\xF4\x90\x80\x80\""), "invalid UTF-8"));  // > U+10FFFF
  CHECK(contains(parse_error(R"("\ud83d")"), "high surrogate"));
  CHECK(contains(parse_error(R"("\ude00")"), "lone low surrogate"));
  CHECK(contains(parse_error(R"("\x")"), "invalid escape"));
  CHECK(contains(parse_error(R"("\u12G4")"), "bad hex digit"));
  CHECK(contains(parse_error("\"a\nb\""), "control character"));
  CHECK(contains(parse_error("\"abc"), "unterminated string"));
  CHECK(is_valid_utf8("plain"));
  CHECK_FALSE(is_valid_utf8("\xff"));
}

TEST_CASE("json rejects non-standard syntax with byte offsets") {
  CHECK(contains(parse_error(""), "empty input"));
  CHECK(contains(parse_error("   "), "empty input"));
  CHECK(contains(parse_error("[1,]"), "trailing comma"));
  CHECK(contains(parse_error("{\"a\":1,}"), "expected a string key"));
  CHECK(contains(parse_error("[1 2]"), "expected ',' or ']'"));
  CHECK(contains(parse_error("{\"a\" 1}"), "expected ':'"));
  CHECK(contains(parse_error("{\"a\":1 \"b\":2}"), "expected ',' or '}'"));
  CHECK(contains(parse_error("{\"a\":1,\"a\":2}"), "duplicate key 'a'"));
  CHECK(contains(parse_error("01"), "leading zeros"));
  CHECK(contains(parse_error("1."), "after the decimal point"));
  CHECK(contains(parse_error("1e"), "exponent"));
  CHECK(contains(parse_error("-"), "expected a digit"));
  CHECK(contains(parse_error("+1"), "unexpected character '+'"));
  CHECK(contains(parse_error("NaN"), "unexpected character 'N'"));
  CHECK(contains(parse_error("tru"), "unexpected character 't'"));
  CHECK(contains(parse_error("[1] x"), "unexpected text after"));
  CHECK(contains(parse_error("// c\n1"), "unexpected character '/'"));
  CHECK(contains(parse_error("[1,\n2,\n@]"), "line 3, column 1"));
  CHECK(contains(parse_error("[1,\n2,\n@]"), "at byte 7"));
  CHECK(contains(parse_error("{\"a\":[1,2"), "unexpected end of input inside an array"));
  CHECK(contains(parse_error("{\"a\":"), "unexpected end of input"));
}

TEST_CASE("json hostile input: deep nesting, size and value limits, no recursion") {
  // One million nested arrays: rejected by the depth limit, without recursing.
  std::string deep(1000000, '[');
  CHECK(contains(parse_error(deep), "nesting deeper than 128"));
  // Exactly at the limit parses (and the value destroys fine).
  std::string ok = std::string(128, '[') + std::string(128, ']');
  CHECK(Json::parse(ok).ok());
  std::string over = std::string(129, '[') + std::string(129, ']');
  CHECK(contains(parse_error(over), "nesting deeper than 128"));
  JsonParseOptions small;
  small.max_bytes = 10;
  CHECK(contains(parse_error("[1,2,3,4,5,6]", small), "more than the limit of 10"));
  JsonParseOptions few;
  few.max_values = 4;
  CHECK(Json::parse("[1,2,3]", few).ok());
  CHECK(contains(parse_error("[1,2,3,4]", few), "more than 4 values"));
}

TEST_CASE("json writer: compact and pretty output parse back equal") {
  Json j = Json::object();
  j.set("name", "conv \"1\"");
  j.set("shape", Json(Json::Array{Json(1), Json(3), Json(224)}));
  j.set("scale", 0.25);
  j.set("empty", Json::array());
  j.set("obj", Json::object());
  j.set("flag", true);
  j.set("nothing", nullptr);
  j.set("scale", 0.5);  // replaces in place, keeps position
  CHECK(j.as_object()[2].first == "scale");
  CHECK(j.dump() ==
        R"({"name":"conv \"1\"","shape":[1,3,224],"scale":0.5,"empty":[],"obj":{},"flag":true,"nothing":null})");
  std::string pretty = j.dump(2);
  CHECK(contains(pretty, "{\n  \"name\": \"conv \\\"1\\\"\",\n  \"shape\": [\n    1,\n    3,\n    224\n  ],"));
  auto a = Json::parse(pretty);
  auto b = Json::parse(j.dump());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == j);
  CHECK(*b == j);
  Json other = j;
  other.set("flag", false);
  CHECK_FALSE(other == j);
}

TEST_CASE("json files: save is atomic and load names the file") {
  std::string path = "/tmp/qforge_test_io_json.json";
  Json j = Json::object();
  j.set("k", Json(Json::Array{Json("v"), Json(2)}));
  REQUIRE(save_json(path, j).ok());
  auto back = load_json(path);
  REQUIRE(back.ok());
  CHECK(*back == j);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("{\"k\": [1,]}", f);
  std::fclose(f);
  auto bad = load_json(path);
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error().message, path + ": JSON error at byte 9"));
  auto missing = load_json("/tmp/qforge_no_such_dir/x.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error().message, "cannot open '/tmp/qforge_no_such_dir/x.json'"));
  auto unwritable = save_json("/tmp/qforge_no_such_dir/x.json", j);
  REQUIRE_FALSE(unwritable.ok());
  CHECK(contains(unwritable.error().message, "cannot create"));
  std::remove(path.c_str());
}
