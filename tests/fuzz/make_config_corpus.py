#!/usr/bin/env python3
"""Builds the config fuzz target's seed corpus: the shipped config, and every config text
written out in the tests (C++ string literals that hold a YAML "key:" and a newline).

    tests/fuzz/make_config_corpus.py tests/fuzz/config_corpus

Literals built at run time (with std::to_string and the like) are taken as far as they are
literal; the fuzzer mutates from there anyway.
"""
import hashlib
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCES = ["tests/unit/config_test.cpp", "tests/unit/reload_test.cpp",
           "tests/integration", "tests/dns/dns_daemon_test.cpp"]
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0", "e": "\x1b"}


def unescape(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x":
                m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
                if m:
                    out.append(chr(int(m.group(0), 16)))
                    i += 2 + len(m.group(0))
                    continue
            out.append(ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def files():
    for rel in SOURCES:
        path = os.path.join(ROOT, rel)
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".cpp"):
                    yield os.path.join(path, name)
        elif os.path.exists(path):
            yield path


def main():
    dst = sys.argv[1]
    os.makedirs(dst, exist_ok=True)
    seeds = {"shipped.yaml": open(os.path.join(ROOT, "config/tcpconnect_exporter.yaml")).read()}
    for path in files():
        # Adjacent literals ("a" "b") are one string in C++.
        source = re.sub(r'"\s*\n\s*"', "", open(path).read())
        for m in LITERAL.finditer(source):
            text = unescape(m.group(1))
            if "\n" not in text or not re.search(r"[a-z_]+:", text) or len(text) > 4096:
                continue
            digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]
            seeds[f"{os.path.basename(path)[:-4]}-{digest}.yaml"] = text
    for name, text in seeds.items():
        with open(os.path.join(dst, name), "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
    print(f"{len(seeds)} seeds in {dst}")


if __name__ == "__main__":
    main()
