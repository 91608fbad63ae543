#!/usr/bin/env python3
"""Lists the C++ functions in daemon/ longer than a limit (default 80 lines, signature to
closing brace), longest first; exits 1 if there is any.

    scripts/function_lengths.py [--max 80] [paths...]

A brace-matching scan, not a compiler: comments, strings and character literals are
blanked first; a brace opens a function body when it is not inside another function and
the text before it (since the previous ';', '{' or '}') has a parameter list and is not a
class, struct, union, enum, namespace or extern block or an initialiser. Lambdas and local
classes count towards the function they are in.
"""
import argparse
import pathlib
import re
import sys

SCOPE_WORDS = re.compile(r"^\s*(template\s*<[^{]*>\s*)?(class|struct|union|enum|namespace|extern)\b")


def blank(text):
    """Comments, string and character literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = ")" + m.group(1) + '"'
            j = text.find(end, i)
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and (text[i - 1].isalnum()):  # digit separator 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j, n - 1) + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    text = blank(path.read_text(errors="replace"))
    text = re.sub(r"^\s*#.*$", lambda m: " " * len(m.group(0)), text, flags=re.M)
    stack = []  # per open brace: "function" or "scope" or "inner"
    head_start = 0  # where the text before the next brace starts
    found = []
    line = lambda pos: text.count("\n", 0, pos) + 1
    for i, c in enumerate(text):
        if c == "{":
            head = text[head_start:i]
            in_function = any(kind == "function" for kind, _, _ in stack)
            is_function = (
                not in_function
                and "(" in head
                and ")" in head
                and not SCOPE_WORDS.match(head)
                and not head.rstrip().endswith(("=", ",", "(", "return"))
            )
            stripped = len(head) - len(head.lstrip())
            name = re.sub(r"\s+", " ", head.strip())
            name = name[: name.find("(")] if "(" in name else name
            stack.append(("function" if is_function else "other", head_start + stripped, name))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, start, name = stack.pop()
                if kind == "function":
                    found.append((line(i) - line(start) + 1, f"{path}:{line(start)}", name))
            head_start = i + 1
        elif c == ";":
            if not any(kind == "function" for kind, _, _ in stack):
                head_start = i + 1
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=80)
    parser.add_argument("paths", nargs="*", default=["daemon"])
    args = parser.parse_args()
    files = []
    for p in map(pathlib.Path, args.paths):
        files += [p] if p.is_file() else sorted(
            f for f in p.rglob("*") if f.suffix in (".cpp", ".h", ".cc"))
    long = sorted((f for path in files for f in functions(path) if f[0] > args.max), reverse=True)
    for lines, where, name in long:
        print(f"{lines:5d} {where} {name.split()[-1] if name else '?'}")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
