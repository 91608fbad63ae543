#include "util/result.h"

#include <cstring>

namespace tcpconnect {

Error Error::from_errno(std::string what, int err) {
  if (err < 0) err = -err;  // libbpf returns negative codes
  return Error{what + ": " + std::strerror(err), err};
}

}  // namespace tcpconnect
