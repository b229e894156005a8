#include "io/npy_format.hpp"

#include <cctype>

namespace vecaccel::io {

// numpy itself refuses headers over 10000 bytes by default; this is generous yet bounded.
constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t{1} << 20;

NpyPreamble parse_npy_preamble(std::span<const std::byte> head, std::uint64_t total,
                               std::string_view name) {
  const std::string_view magic(reinterpret_cast<const char*>(head.data()),
                               std::min(head.size(), kNpyMagic.size()));
  if (magic != kNpyMagic) {
    fail(Errc::io_error, name, "not a .npy file: missing magic \\x93NUMPY at byte 0");
  }
  if (total < 8) {
    fail(Errc::io_error, name, cat("truncated at byte ", total, ": no version after the magic"));
  }
  const auto major = static_cast<unsigned>(head[6]);
  const auto minor = static_cast<unsigned>(head[7]);
  if (major < 1 || major > 3 || minor != 0) {
    fail(Errc::io_error, name,
         cat("unsupported .npy version ", major, ".", minor, " (need 1.0, 2.0 or 3.0)"));
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  NpyPreamble preamble;
  preamble.header_offset = 8 + length_bytes;
  if (total < preamble.header_offset) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", total, ": version ", major, ".0 needs a ", length_bytes,
             "-byte header length"));
  }
  preamble.header_size = major == 1 ? load_le<std::uint16_t>(head.data() + 8)
                                    : load_le<std::uint32_t>(head.data() + 8);
  if (preamble.header_size > kMaxNpyHeaderBytes) {
    fail(Errc::io_error, name,
         cat("header length ", preamble.header_size, " exceeds the limit of ", kMaxNpyHeaderBytes,
             " bytes"));
  }
  const std::uint64_t left = total - preamble.header_offset;
  if (left < preamble.header_size) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", preamble.header_offset, ": header needs ", preamble.header_size,
             " bytes, ", left, " left"));
  }
  return preamble;
}

namespace {

// Parses the header dict, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
// Accepts what Python's literal syntax allows numpy writers to vary: key order, quotes,
// whitespace, trailing commas and Python 2 'L' suffixes. Rejects unknown or duplicate keys.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::uint64_t offset, std::string_view name)
      : text_(text), offset_(offset), name_(name) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false;
    bool seen_fortran = false;
    bool seen_shape = false;
    expect('{', "'{' opening the header dict");
    while (!consume('}')) {
      const std::string key = parse_string("a quoted key");
      expect(':', cat("':' after key '", key, "'"));
      if (key == "descr") {
        mark_seen(seen_descr, key);
        skip_space();
        if (peek() == '[') fail_at("a dtype string; structured dtypes are unsupported");
        header.descr = parse_string("a quoted dtype string");
      } else if (key == "fortran_order") {
        mark_seen(seen_fortran, key);
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        mark_seen(seen_shape, key);
        header.shape = parse_shape();
      } else {
        fail_at(cat("'descr', 'fortran_order' or 'shape', not key '", key, "'"));
      }
      if (consume(',')) continue;
      expect('}', "',' or '}' after a value");
      break;
    }
    skip_space();
    if (pos_ != text_.size()) fail_at("only whitespace after the header dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      fail(Errc::io_error, name_,
           cat("header lacks key", seen_descr ? "" : " 'descr'",
               seen_fortran ? "" : " 'fortran_order'", seen_shape ? "" : " 'shape'", ": ",
               excerpt()));
    }
    return header;
  }

 private:
  [[noreturn]] void fail_at(const std::string& expected) const {
    fail(
        Errc::io_error, name_,
        cat("malformed header at byte ", offset_ + pos_, ": expected ", expected, ": ", excerpt()));
  }

  std::string excerpt() const {
    constexpr std::size_t kMax = 120;
    std::string shown(text_.substr(0, kMax));
    for (char& c : shown) {
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    }
    return cat("\"", shown, text_.size() > kMax ? "...\"" : "\"");
  }

  void mark_seen(bool& seen, const std::string& key) {
    if (seen) fail_at(cat("each key once, but '", key, "' repeats"));
    seen = true;
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }

  bool consume(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  void expect(char c, const std::string& what) {
    if (!consume(c)) fail_at(what);
  }

  std::string parse_string(const std::string& what) {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail_at(what);
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      // dtype strings and keys never need escapes; refusing them keeps this parser tiny
      if (text_[pos_] == '\\' || text_[pos_] == '\n') fail_at(cat(what, " without escapes"));
      ++pos_;
    }
    if (pos_ == text_.size()) fail_at(cat("a closing quote for ", what));
    const std::size_t end = pos_++;
    return std::string(text_.substr(start, end - start));
  }

  bool parse_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const std::size_t end = pos_ + word.size();
    if (end < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  bool parse_bool() {
    skip_space();
    if (parse_word("True")) return true;
    if (parse_word("False")) return false;
    fail_at("True or False for 'fortran_order'");
  }

  std::uint64_t parse_uint() {
    skip_space();
    if (!std::isdigit(static_cast<unsigned char>(peek()))) {
      fail_at("a non-negative integer in 'shape'");
    }
    std::uint64_t value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
        fail_at("a 'shape' entry that fits in 64 bits");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long suffix, e.g. "(3L, 4L)"
    return value;
  }

  std::vector<std::uint64_t> parse_shape() {
    std::vector<std::uint64_t> shape;
    expect('(', "'(' opening the 'shape' tuple");
    while (!consume(')')) {
      shape.push_back(parse_uint());
      if (consume(',')) continue;
      expect(')', "',' or ')' in the 'shape' tuple");
      break;
    }
    return shape;
  }

  std::string_view text_;
  std::uint64_t offset_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

}  // namespace

NpyHeader parse_npy_header(std::string_view text, std::uint64_t offset, std::string_view name) {
  return NpyHeaderParser(text, offset, name).parse();
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += cat(i == 0 ? "" : ", ", shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::pair<NpyHeader, std::uint64_t> read_npy_header(InputFile& file, std::string_view name) {
  std::array<std::byte, 12> head{};
  const auto head_bytes = std::span(head).first(std::min<std::uint64_t>(file.size(), head.size()));
  file.read_at(head_bytes, 0);
  const auto preamble = parse_npy_preamble(head_bytes, file.size(), name);
  std::vector<std::byte> header_bytes(preamble.header_size);
  file.read_at(header_bytes, preamble.header_offset);
  return {parse_npy_header(as_text(header_bytes), preamble.header_offset, name),
          preamble.header_offset + preamble.header_size};
}

detail::VectorFileLayout npy_file_layout(InputFile& file, std::string_view name) {
  const std::uint64_t total = file.size();
  const auto [header, data_offset] = read_npy_header(file, name);
  ValuesLayout npy;
  if (header.descr == "|u1") {
    npy = npy_layout<std::uint8_t>(header, data_offset, total, name);
  } else if (header.descr == "|i1") {
    npy = npy_layout<std::int8_t>(header, data_offset, total, name);
  } else {
    if (header.descr != "<f4") {
      fail(Errc::io_error, name,
           cat("dtype '", header.descr, "' unsupported, need '<f4', '|u1' or '|i1'"));
    }
    npy = npy_layout<float>(header, data_offset, total, name);
  }
  return {.type = element_type_of(npy.elem),
          .rows = npy.rows,
          .dim = npy.dim,
          .data_offset = npy.data_offset,
          .row_stride = npy.dim * elem_size(npy.elem),
          .file_size = total};
}

std::string npy_header(std::string_view descr, const std::vector<std::uint64_t>& shape) {
  std::string header =
      cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape_text(shape), ", }");
  // Pad with spaces so magic + version + length + header (ending in '\n') is a multiple of
  // kNpyAlign, as numpy does, so that the data is aligned when memory-mapped.
  const std::size_t preamble = kNpyMagic.size() + 2 + 2;
  const std::size_t unpadded = preamble + header.size() + 1;
  header.append((kNpyAlign - unpadded % kNpyAlign) % kNpyAlign, ' ');
  header += '\n';
  std::string out(kNpyMagic);
  out += '\x01';
  out += '\x00';
  const auto size = static_cast<std::uint16_t>(header.size());  // a few hundred bytes at most
  out += static_cast<char>(size & 0xff);
  out += static_cast<char>(size >> 8);
  return out + header;
}

}  // namespace vecaccel::io
