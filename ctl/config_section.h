// The configuration sections services own. ctl/ knows only the daemon's own sections ([engine],
// [control], [metrics], [log]); each service declares its section beside its code
// (services/<name>/config.h) as a plain struct:
//
//   struct SmppConfig {
//     static constexpr std::string_view kSection = "smpp";   // its [table]
//     static constexpr std::string_view kDefaults = R"(...)"; // its keys at their defaults, with
//                                                             // comments, for the default file
//     bool enabled = true; ...
//     void visit(ctl::ConfigVisitor& v);                      // its keys (ctl/config_schema.h)
//     bool operator==(const SmppConfig&) const = default;
//   };
//
// and adds it to a ConfigSchema from its wiring unit. The daemon builds the schema of every
// service it lists before reading the file, so `--check-config` and start-up validate the whole
// file, every section, before any service exists. A Config then holds one value per section;
// `config.section<SmppConfig>()` hands a service its own.
//
// Used at start-up and by `config show` only; allocation is fine here.
#pragma once

#include <concepts>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "ctl/config_schema.h"

namespace cp::ctl {

template <typename T>
concept ConfigSectionType = std::copyable<T> && std::equality_comparable<T> &&
    requires(T t, ConfigVisitor& v) {
  { T::kSection } -> std::convertible_to<std::string_view>;
  { T::kDefaults } -> std::convertible_to<std::string_view>;
  t.visit(v);
};

// The values of the services' sections, in schema order. A value type: copies are deep, and two
// are equal when they hold equal sections in the same order.
class ConfigSections {
 public:
  ConfigSections() = default;
  ConfigSections(const ConfigSections& other) { *this = other; }
  ConfigSections& operator=(const ConfigSections& other) {
    if (this == &other) return *this;
    items_.clear();
    for (const auto& item : other.items_) items_.push_back(item->clone());
    return *this;
  }
  ConfigSections(ConfigSections&&) noexcept = default;
  ConfigSections& operator=(ConfigSections&&) noexcept = default;

  bool operator==(const ConfigSections& other) const {
    if (items_.size() != other.items_.size()) return false;
    for (size_t i = 0; i < items_.size(); ++i)
      if (!items_[i]->equals(*other.items_[i])) return false;
    return true;
  }

  template <ConfigSectionType T>
  const T* find() const {
    for (const auto& item : items_)
      if (item->tag() == &kTag<T>) return &static_cast<const Typed<T>&>(*item).value;
    return nullptr;
  }
  template <ConfigSectionType T>
  T* find() {
    return const_cast<T*>(std::as_const(*this).find<T>());
  }

  // Walks every section as a [table] of its own.
  void visit(ConfigVisitor& v) {
    for (auto& item : items_) {
      v.begin_section(item->name());
      item->visit(v);
      v.end_section();
    }
  }

 private:
  friend class ConfigSchema;

  template <typename T>
  static constexpr char kTag = 0;  // one address per section type

  struct Holder {
    virtual ~Holder() = default;
    virtual const void* tag() const = 0;
    virtual std::string_view name() const = 0;
    virtual void visit(ConfigVisitor& v) = 0;
    virtual std::unique_ptr<Holder> clone() const = 0;
    virtual bool equals(const Holder& other) const = 0;
  };
  template <typename T>
  struct Typed final : Holder {
    T value{};
    const void* tag() const override { return &kTag<T>; }
    std::string_view name() const override { return T::kSection; }
    void visit(ConfigVisitor& v) override { value.visit(v); }
    std::unique_ptr<Holder> clone() const override { return std::make_unique<Typed>(*this); }
    bool equals(const Holder& other) const override {
      return other.tag() == tag() && static_cast<const Typed&>(other).value == value;
    }
  };

  std::vector<std::unique_ptr<Holder>> items_;
};

// Which sections a configuration file may hold besides the daemon's own: the daemon adds every
// service's (daemon/services.h, config_schema()); a tool adds those it reads.
class ConfigSchema {
 public:
  // A section name is declared once (a clash is a programming error).
  template <ConfigSectionType T>
  ConfigSchema& add() {
    for (const Entry& e : entries_) CP_ASSERT(e.name != T::kSection);
    entries_.push_back({T::kSection, T::kDefaults, [](ConfigSections& out) {
                          out.items_.push_back(std::make_unique<ConfigSections::Typed<T>>());
                        }});
    return *this;
  }

  // Every section of the schema at its defaults.
  ConfigSections defaults() const {
    ConfigSections out;
    for (const Entry& e : entries_) e.make(out);
    return out;
  }
  bool has(std::string_view name) const {
    for (const Entry& e : entries_)
      if (e.name == name) return true;
    return false;
  }

  struct Entry {
    std::string_view name;
    std::string_view defaults;  // the section's commented TOML, "[name]" line included
    void (*make)(ConfigSections& out);
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace cp::ctl
