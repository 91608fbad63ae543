// The one rule for text the exporter renders from values that other processes, tenants
// or hosts control (process names, cgroup names, DNS names): every Prometheus label value
// and the trace tool's JSON strings. Safe text is valid UTF-8 without control characters:
//   - each ill-formed UTF-8 sequence becomes U+FFFD: a byte that cannot start a sequence
//     (a stray continuation byte, 0xC0, 0xC1, 0xF5-0xFF), an overlong form, a surrogate
//     (U+D800-U+DFFF), a code point above U+10FFFF, a sequence cut short. One U+FFFD
//     stands for a lead byte (0xC0-0xF7) together with the continuation bytes that
//     follow it; any other byte is replaced on its own (utfcpp's replace_invalid):
//     "\xE2\x82" and "\xC0\xAF" are one U+FFFD each, "\xFF\xFE" and "\x80\x80" two.
//   - each control character (general category Cc: U+0000-U+001F, U+007F-U+009F) becomes
//     U+FFFD too. They are valid UTF-8, and the text exposition format carries all but the
//     newline raw (it escapes only backslash, double quote and newline), but a NUL ends a
//     C string in a consumer, and ESC, CR or a C1 control rewrite the terminal or the log
//     line that shows the value.
// Everything else is kept as it is: a valid name in any script reads unchanged.
// Replacing, rather than escaping, means two values that differ only in what was
// replaced become one label value: their series merge, as any two equal values do.
#pragma once

#include <string>
#include <string_view>

namespace tcpconnect {

// Printable ASCII is decided byte by byte; only other text is decoded.
bool is_safe_text(std::string_view s);
// s made safe in place: left alone (no copy, no allocation) when it already is.
void make_safe_text(std::string& s);
std::string safe_text(std::string_view s);

}  // namespace tcpconnect
