// A temporary directory for one test's files, removed with everything in it at the end.
#pragma once

#include <string>

namespace tcpconnect::testing {

class ScratchDir {
 public:
  // Made under $TMPDIR (or /tmp) as PREFIX.XXXXXX; path() is empty when mkdtemp failed.
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `text` to the file `name` in the directory; returns the file's path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

}  // namespace tcpconnect::testing
