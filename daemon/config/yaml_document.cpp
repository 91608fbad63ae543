#include "config/yaml_document.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>

namespace tcpconnect::config_detail {

namespace {

// Where the first node of a document is, from yaml-cpp's event parser.
class FirstNode final : public YAML::EventHandler {
 public:
  const std::optional<YAML::Mark>& start() const { return start_; }
  const std::optional<YAML::Mark>& node() const { return node_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { seen(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { seen(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    seen(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnMapEnd() override {}

 private:
  void seen(const YAML::Mark& mark) {
    if (!node_) node_ = mark;
  }
  std::optional<YAML::Mark> start_;
  std::optional<YAML::Mark> node_;
};

}  // namespace

YAML::Mark mark_at_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start =
      before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  YAML::Mark mark;
  mark.pos = static_cast<int>(offset);
  mark.line = static_cast<int>(line);
  mark.column = static_cast<int>(offset - line_start);
  return mark;
}

std::optional<SecondDocument> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  FirstNode first;
  FirstNode second;
  if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) {
    return std::nullopt;
  }
  SecondDocument out;
  out.mark = second.node().value_or(second.start().value_or(YAML::Mark::null_mark()));
  out.stuck = first.start() && second.start() && first.start()->pos == second.start()->pos;
  if (out.stuck) out.mark = *second.start();
  return out;
}

}  // namespace tcpconnect::config_detail
