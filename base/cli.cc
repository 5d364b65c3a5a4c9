// The one translation unit that compiles CLI11 (base/cli.h says why). Each call forwards to
// CLI11 with the same arguments a main used to pass it, so help, messages and exit codes are
// CLI11's own.
#include "base/cli.h"

#include <CLI/CLI.hpp>
#include <deque>
#include <utility>

namespace cp::cli {

struct Option::Impl {
  CLI::Option* option;
};

struct App::Impl {
  explicit Impl(std::unique_ptr<CLI::App> top) : root(std::move(top)), app(root.get()) {}
  explicit Impl(CLI::App* child) : app(child) {}

  Option handle(CLI::Option* option) { return Option(options.emplace_back(Option::Impl{option})); }

  template <typename T>
  Option add_option(std::string name, T& value, std::string description) {
    return handle(app->add_option(std::move(name), value, std::move(description)));
  }

  // Wraps a subcommand or group of this app (CLI11 owns it, through its parent).
  App& adopt(CLI::App* child) {
    children.push_back(std::unique_ptr<App>(new App(std::make_unique<Impl>(child))));
    return *children.back();
  }

  std::unique_ptr<CLI::App> root;  // the top-level app; a child's belongs to its parent
  CLI::App* app;
  std::deque<Option::Impl> options;  // what the Option handles point to (a deque never moves them)
  std::vector<std::unique_ptr<App>> children;
};

// ---- Option ----------------------------------------------------------------------------------

Option& Option::required() {
  impl_->option->required();
  return *this;
}

Option& Option::show_default() {
  impl_->option->capture_default_str();
  return *this;
}

Option& Option::type_name(std::string name) {
  impl_->option->type_name(std::move(name));
  return *this;
}

Option& Option::delimiter(char separator) {
  impl_->option->delimiter(separator);
  return *this;
}

Option& Option::range(int lo, int hi) {
  impl_->option->check(CLI::Range(lo, hi));
  return *this;
}

Option& Option::range(unsigned lo, unsigned hi) {
  impl_->option->check(CLI::Range(lo, hi));
  return *this;
}

Option& Option::range(double lo, double hi) {
  impl_->option->check(CLI::Range(lo, hi));
  return *this;
}

Option& Option::positive() {
  impl_->option->check(CLI::PositiveNumber);
  return *this;
}

Option& Option::non_negative() {
  impl_->option->check(CLI::NonNegativeNumber);
  return *this;
}

Option& Option::one_of(std::vector<std::string> values) {
  impl_->option->check(CLI::IsMember(std::move(values)));
  return *this;
}

Option& Option::existing_file() {
  impl_->option->check(CLI::ExistingFile);
  return *this;
}

Option& Option::check(std::function<std::string(const std::string& value)> check) {
  impl_->option->check(std::move(check));
  return *this;
}

// ---- App -------------------------------------------------------------------------------------

App::App(std::string description, std::string name)
    : impl_(std::make_unique<Impl>(
          std::make_unique<CLI::App>(std::move(description), std::move(name)))) {}

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

App::~App() = default;

Option App::option(std::string name, std::string& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, int& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, unsigned& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, uint16_t& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, uint64_t& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, double& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, bool& value, std::string description) {
  return impl_->add_option(std::move(name), value, std::move(description));
}

Option App::option(std::string name, std::vector<std::string>& values, std::string description) {
  return impl_->add_option(std::move(name), values, std::move(description));
}

Option App::option(std::string name, std::vector<unsigned>& values, std::string description) {
  return impl_->add_option(std::move(name), values, std::move(description));
}

Option App::flag(std::string name, bool& value, std::string description) {
  return impl_->handle(impl_->app->add_flag(std::move(name), value, std::move(description)));
}

void App::version_flag(std::string name, std::string version) {
  impl_->app->set_version_flag(std::move(name), version);
}

void App::footer(std::string text) {
  impl_->app->footer(std::move(text));
}

App& App::subcommand(std::string name, std::string description) {
  return impl_->adopt(impl_->app->add_subcommand(std::move(name), std::move(description)));
}

void App::require_subcommand(int count) {
  impl_->app->require_subcommand(count);
}

App& App::group(std::string name, std::string description) {
  return impl_->adopt(impl_->app->add_option_group(std::move(name), std::move(description)));
}

std::optional<int> App::parse(int argc, const char* const* argv) {
  try {
    impl_->app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return impl_->app->exit(e);
  }
  return std::nullopt;
}

std::optional<int> App::parse(std::span<const std::string> args, std::ostream& out,
                              std::ostream& err) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    impl_->app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return impl_->app->exit(e, out, err);
  }
  return std::nullopt;
}

bool App::parsed() const {
  return impl_->app->parsed();
}

bool App::given(std::string_view name) const {
  return impl_->app->count(std::string(name)) > 0;
}

std::vector<std::string> App::given_options() const {
  std::vector<std::string> names;
  for (const CLI::Option* option : impl_->app->get_options()) {
    if (option->count() == 0) continue;
    const auto& long_names = option->get_lnames();
    names.push_back(long_names.empty() ? option->get_name() : "--" + long_names.front());
  }
  return names;
}

std::string App::help() const {
  return impl_->app->help();
}

}  // namespace cp::cli
