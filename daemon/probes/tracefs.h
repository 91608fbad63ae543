#pragma once

#include "util/result.h"

namespace tcpconnect {

// Classic tracepoints are attached through tracefs. A fresh machine may not have it
// mounted; mount it at /sys/kernel/tracing when neither place has it.
Status ensure_tracefs();

}  // namespace tcpconnect
