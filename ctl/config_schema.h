// The vocabulary configuration sections are described in. A section is one function
//   void visit_engine(ConfigVisitor& v, EngineConfig& s) { v.u32("cores", s.cores, 0, 1024); ... }
// naming each key once, with its type and valid range. Walking it with the reader (loading)
// checks types and ranges, collects which keys were consumed and reports the others as unknown,
// each with file:line:col; walking it with the writer prints the section as TOML. So a key is
// declared in exactly one place and `config show` can never drift from what the loader accepts.
//
// Used only at start-up and by `config show`, never on the data path; allocation is fine here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace cp::ctl {

struct Config;

class ConfigVisitor {
 public:
  // Extra validation of an integer or string value: returns "" when fine, else the reason.
  using U32Check = std::string (*)(uint32_t value);
  using TextCheck = std::string (*)(std::string_view value);

  virtual ~ConfigVisitor() = default;

  // An integer key in [min, max], further restricted by `check` when not null.
  virtual void u32(std::string_view key, uint32_t& value, uint32_t min, uint32_t max,
                   U32Check check) = 0;
  virtual void boolean(std::string_view key, bool& value) = 0;
  virtual void text(std::string_view key, std::string& value, TextCheck check) = 0;
  // A string that must be one of `names`; `index` is its position in `names`.
  virtual void choice(std::string_view key, size_t& index,
                      std::span<const std::string_view> names) = 0;
  // A Unix file mode written as an octal string ("0600").
  virtual void file_mode(std::string_view key, uint32_t& mode) = 0;
  // A sub-table [key] (nested in the current one); every call is paired with end_section().
  virtual void begin_section(std::string_view key) = 0;
  virtual void end_section() = 0;

  void u32(std::string_view key, uint32_t& value, uint32_t min, uint32_t max) {
    u32(key, value, min, max, nullptr);
  }
  void text(std::string_view key, std::string& value) { text(key, value, nullptr); }

  // An enum whose values are 0..N-1 in the order of `names`.
  template <typename E, size_t N>
  void enumeration(std::string_view key, E& value, const std::array<std::string_view, N>& names) {
    size_t index = static_cast<size_t>(value);
    choice(key, index, names);
    value = static_cast<E>(index);
  }

  template <typename Section>
  void section(std::string_view key, Section& s, void (*visit)(ConfigVisitor&, Section&)) {
    begin_section(key);
    visit(*this, s);
    end_section();
  }
};

// Walks the whole configuration: top-level keys first, then the daemon's sections, then the
// services' in schema order.
void visit_config(ConfigVisitor& v, Config& config);

// Checks shared by the sections (ConfigVisitor::TextCheck): "" when fine, else the reason.
std::string check_path(std::string_view value);                  // not empty, no NUL
std::string check_optional_path(std::string_view value);         // "" or a path
std::string check_socket_path(std::string_view value);           // a path that fits sockaddr_un
std::string check_tcp_address(std::string_view value);           // host:port, [v6]:port
std::string check_optional_tcp_address(std::string_view value);  // "" or host:port

}  // namespace cp::ctl
