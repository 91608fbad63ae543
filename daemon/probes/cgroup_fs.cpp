#include "probes/cgroup_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "util/unique_fd.h"

namespace tcpconnect {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view oct = field.substr(i + 1, 3);
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string_view::npos) {
        out += static_cast<char>((oct[0] - '0') * 64 + (oct[1] - '0') * 8 + (oct[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_container_id(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Path below the hierarchy's root of a directory `rel` below the mount ("" or "/a/b").
std::string hierarchy_path(const Cgroup2Mount& mount, std::string_view rel) {
  std::string root = mount.root == "/" ? "" : mount.root;
  return root + std::string(rel);
}

}  // namespace

std::vector<Cgroup2Mount> parse_cgroup2_mounts(std::string_view text) {
  std::vector<Cgroup2Mount> out;
  for (std::string_view line : split(text, '\n')) {
    std::vector<std::string_view> fields = split(line, ' ');
    // id parent dev root mount-point options [optional...] - fstype source super-options
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 1 >= fields.size()) continue;
    if (fields[dash + 1] != "cgroup2") continue;
    Cgroup2Mount m;
    m.root = unescape_mountinfo(fields[3]);
    m.mount_point = unescape_mountinfo(fields[4]);
    out.push_back(std::move(m));
  }
  return out;
}

bool is_cgroup2_hierarchy_root(const std::string& directory) {
  struct statfs fs {};
  if (statfs(directory.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) return false;
  struct stat st {};
  return stat((directory + "/cgroup.procs").c_str(), &st) == 0 &&
         stat((directory + "/cgroup.type").c_str(), &st) != 0 && errno == ENOENT;
}

std::optional<Cgroup2Mount> choose_cgroup2_mount(
    std::string_view text, const std::function<bool(const std::string&)>& is_root) {
  std::vector<Cgroup2Mount> mounts = parse_cgroup2_mounts(text);
  for (Cgroup2Mount& m : mounts) {
    if (is_root(m.mount_point)) {
      m.root = "/";
      return m;
    }
  }
  if (mounts.empty()) return std::nullopt;
  return mounts.front();
}

Result<Cgroup2Mount> find_cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return Error::from_errno("reading /proc/self/mountinfo", errno);
  std::stringstream text;
  text << in.rdbuf();
  auto mount = choose_cgroup2_mount(text.str(), is_cgroup2_hierarchy_root);
  if (!mount) return Error{"no cgroup2 file system is mounted (see /proc/self/mountinfo)"};
  return *mount;
}

Result<ResolvedCgroup> resolve_cgroup(const Cgroup2Mount& mount, const std::string& path) {
  std::string rel;
  if (!path.empty() && path.front() == '/') {
    const std::string& mp = mount.mount_point;
    if (path.compare(0, mp.size(), mp) != 0 ||
        (path.size() > mp.size() && path[mp.size()] != '/' && mp != "/")) {
      return Error{"cgroup " + path + " is not on the cgroup2 hierarchy (mounted at " + mp + ")"};
    }
    rel = path.substr(mp == "/" ? 0 : mp.size());
  } else {
    rel = "/" + path;
  }
  while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
  if (rel == "/") rel.clear();

  ResolvedCgroup out;
  out.path = mount.mount_point + rel;
  struct stat st {};
  if (stat(out.path.c_str(), &st) != 0) return Error::from_errno("cgroup " + out.path, errno);
  if (!S_ISDIR(st.st_mode)) return Error{"cgroup " + out.path + " is not a directory"};
  struct statfs fs {};
  if (statfs(out.path.c_str(), &fs) != 0) return Error::from_errno("cgroup " + out.path, errno);
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    return Error{"cgroup " + out.path + " is not on a cgroup2 file system"};
  out.id = st.st_ino;
  out.level = static_cast<uint32_t>(split(hierarchy_path(mount, rel), '/').size());
  return out;
}

std::string unit_of_cgroup_path(std::string_view path) {
  std::vector<std::string_view> parts = split(path, '/');
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    std::string_view c = *it;
    if (ends_with(c, ".service") || ends_with(c, ".scope") || ends_with(c, ".slice") ||
        is_container_id(c))
      return std::string(c);
  }
  return "";
}

CgroupUnits::CgroupUnits(Cgroup2Mount mount, Options options)
    : mount_(std::move(mount)), options_(options) {}

std::string CgroupUnits::unit_of(uint64_t cgroup_id) {
  const Named* named = find(cgroup_id);
  return named ? named->unit : std::string();
}

std::optional<PodCgroup> CgroupUnits::pod_of(uint64_t cgroup_id) {
  const Named* named = find(cgroup_id);
  return named ? named->pod : std::nullopt;
}

const CgroupUnits::Named* CgroupUnits::find(uint64_t cgroup_id) {
  if (auto it = units_.find(cgroup_id); it != units_.end()) return &it->second;
  if (unknown_.count(cgroup_id)) return nullptr;
  if (!walked_this_round_) {
    walk();
    if (auto it = units_.find(cgroup_id); it != units_.end()) return &it->second;
  }
  // Only a walk made after the id was first asked for can say it is gone.
  if (walked_this_round_) {
    if (unknown_.size() >= options_.max_entries) unknown_.clear();
    unknown_.insert(cgroup_id);
  }
  return nullptr;
}

void CgroupUnits::walk() {
  walked_this_round_ = true;
  ++walks_;
  std::unordered_map<uint64_t, Named> found;
  // Only root makes kubelet's cgroups: a kubepods tree in a sub-tree delegated to a user
  // (whose directories that user owns) would otherwise name its processes after any pod.
  auto name = [&](ino_t id, std::string_view rel, bool root_owned) {
    if (found.size() >= options_.max_entries) return;
    const std::string path = hierarchy_path(mount_, rel);
    found[id] =
        Named{unit_of_cgroup_path(path), root_owned ? pod_of_cgroup_path(path) : std::nullopt};
  };
  // Depth-first with a stack of (directory fd, path below the mount, whether it and every
  // directory above it belong to root).
  struct Dir {
    UniqueFd fd;
    std::string rel;
    bool root_owned;
  };
  std::vector<Dir> stack;
  UniqueFd root(open(mount_.mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return;
  struct stat st {};
  if (fstat(root.get(), &st) != 0) return;
  name(st.st_ino, "", st.st_uid == 0);
  stack.push_back({std::move(root), "", st.st_uid == 0});
  size_t dirs = 0;
  while (!stack.empty() && dirs < options_.max_walk_dirs) {
    Dir dir = std::move(stack.back());
    stack.pop_back();
    UniqueFd fd(dup(dir.fd.get()));
    if (!fd) continue;
    DIR* d = fdopendir(fd.get());
    if (!d) continue;
    fd.release();  // closedir closes it
    while (dirent* e = readdir(d)) {
      if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
      std::string_view entry = e->d_name;
      if (entry == "." || entry == "..") continue;
      UniqueFd child(openat(dir.fd.get(), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!child) continue;
      if (fstat(child.get(), &st) != 0) continue;
      std::string rel = dir.rel + "/" + std::string(entry);
      const bool root_owned = dir.root_owned && st.st_uid == 0;
      name(st.st_ino, rel, root_owned);
      ++dirs;
      if (stack.size() < 4096) stack.push_back({std::move(child), std::move(rel), root_owned});
    }
    closedir(d);
  }
  units_ = std::move(found);
}

}  // namespace tcpconnect
