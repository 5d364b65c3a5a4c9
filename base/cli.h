// Command lines for our mains: a narrow facade over CLI11, which only base/cli.cc includes.
//
// Why a facade: CLI11 is header-only (Debian's libcli11-dev has no compiled mode), and every
// translation unit including it spent 8-20 s compiling it (ctl/cellctl_main.cc: 8.4 s at -O2,
// even with CLI11 in a precompiled header). Behind this header it is compiled once, in
// base/cli.cc, and the mains include only the standard library through it.
//
// CLI11 still does all the work — parsing, validation, --help, version, error messages and exit
// codes — so the facade has no behaviour of its own. It offers what our mains use and nothing
// more: a value type, validator or setting a main needs is added here (and in base/cli.cc).
//
//   cp::cli::App app{"tool: what it does"};
//   app.option("--cores", opts.cores, "reactor threads").range(1u, 64u).show_default();
//   app.flag("-v,--verbose", opts.verbose, "say what happens");
//   if (const auto status = app.parse(argc, argv)) return *status;  // --help, or a usage error
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cp::cli {

// One option, flag or positional of an App: a handle, valid as long as its App. Each setter
// returns the handle, so they chain. The validators check every value as given, before it is
// converted; one that fails is a usage error, explained by CLI11.
class Option {
 public:
  Option& required();                   // a usage error unless given
  Option& show_default();               // --help shows the variable's value at this call
  Option& type_name(std::string name);  // --help's name of the value (default: TEXT, INT, ...)
  Option& delimiter(char separator);    // a vector option also splits each value at `separator`

  // lo <= value <= hi; --help adds "INT in [lo - hi]" (UINT, FLOAT for the other two).
  Option& range(int lo, int hi);
  Option& range(unsigned lo, unsigned hi);
  Option& range(double lo, double hi);
  Option& positive();      // a number > 0 (POSITIVE)
  Option& non_negative();  // a number >= 0 (NONNEGATIVE)
  Option& one_of(std::vector<std::string> values);
  Option& existing_file();
  // `check` returns why `value` is refused, or an empty string to accept it.
  Option& check(std::function<std::string(const std::string& value)> check);

 private:
  friend class App;
  struct Impl;  // the CLI11 option (base/cli.cc)
  explicit Option(Impl& impl) : impl_(&impl) {}

  Impl* impl_;
};

// A command line: its options, and its subcommands or option groups (child Apps it owns).
class App {
 public:
  // `name` is the program's name in --help (default: argv[0]).
  explicit App(std::string description, std::string name = {});
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // An option storing its value in `value`, which holds the default. `name` is in CLI11's
  // syntax: "-c,--config", or a bare word for a positional ("source").
  Option option(std::string name, std::string& value, std::string description);
  Option option(std::string name, int& value, std::string description);
  Option option(std::string name, unsigned& value, std::string description);
  Option option(std::string name, uint16_t& value, std::string description);
  Option option(std::string name, uint64_t& value, std::string description);
  Option option(std::string name, double& value, std::string description);
  Option option(std::string name, bool& value, std::string description);  // "--x 0", "--x true"
  Option option(std::string name, std::vector<std::string>& values, std::string description);
  Option option(std::string name, std::vector<unsigned>& values, std::string description);
  // A flag sets `value` when given; "--pin,!--no-pin" also names the flag that clears it.
  Option flag(std::string name, bool& value, std::string description);
  // `name` (e.g. "--version") prints `version` and exits 0.
  void version_flag(std::string name, std::string version);
  void footer(std::string text);  // printed after the options in --help

  // A subcommand ("pms-tool split ..."), with options of its own; parsed() says it was given.
  App& subcommand(std::string name, std::string description);
  void require_subcommand(int count);  // exactly `count` subcommands must be given
  // A group: options of this App listed under their own heading in --help.
  App& group(std::string name, std::string description);

  // Parses argv. nullopt: go on. Otherwise the run ends with the status returned (0 after --help
  // or the version flag), and CLI11 has printed why: help on stdout, a usage error on stderr.
  std::optional<int> parse(int argc, const char* const* argv);
  // The same for `args` (without the program's name), printing to `out` and `err`.
  std::optional<int> parse(std::span<const std::string> args, std::ostream& out, std::ostream& err);

  bool parsed() const;                      // a subcommand: it was given
  bool given(std::string_view name) const;  // the option `name` was given
  // The options given, each by its first long name ("--verbose") or a positional's name.
  std::vector<std::string> given_options() const;
  std::string help() const;

 private:
  struct Impl;  // the CLI11 app (base/cli.cc)
  explicit App(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace cp::cli
