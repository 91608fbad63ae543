#!/usr/bin/env python3
"""Builds the fuzz target's seed corpus from the recorded real responses.

    tests/fuzz/make_corpus.py tests/dns/fixtures tests/fuzz/corpus

Each seed is a chunk sequence as dns_fuzz_target.cpp reads it: the fixtures as raw
messages, wrapped in ring records (struct tc_dns_event, bpf/shared/dns.h), wrapped in
IPv4/IPv6 UDP/TCP packets, and TCP streams split across segments.
"""
import os
import struct
import sys

EVENT = struct.Struct("<Q16s16sHHHBBIIII")  # struct tc_dns_event, 64 bytes
assert EVENT.size == 64


def chunk(kind, data):
    return struct.pack(">BH", kind, len(data)) + data


def ring_event(payload, tcp=False, seq=0, flags=0x18, family=2, payload_len=None):
    saddr = bytes([127, 0, 0, 53]) + bytes(12) if family == 2 else bytes(15) + b"\x01"
    daddr = bytes([127, 0, 0, 1]) + bytes(12) if family == 2 else bytes(15) + b"\x01"
    plen = len(payload) if payload_len is None else payload_len
    hdr = EVENT.pack(123456789, saddr, daddr, family, 53, 40000, 6 if tcp else 17,
                     flags if tcp else 0, seq, plen, len(payload), 0)
    return hdr + payload


def ipv4_udp(payload):
    udp = struct.pack(">HHHH", 53, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([127, 0, 0, 53]), bytes([127, 0, 0, 1]))
    return ip + udp


def ipv6_tcp(payload, seq=1000):
    tcp = struct.pack(">HHIIBBHHH", 53, 40000, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack(">IHBB16s16s", 6 << 28, len(tcp), 6, 64, bytes(15) + b"\x01",
                     bytes(15) + b"\x01")
    return ip + tcp


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    seeds = {}
    for name in sorted(os.listdir(src)):
        if not name.endswith(".bin"):
            continue
        raw = open(os.path.join(src, name), "rb").read()
        base = name[:-4]
        tcp = "_tcp" in name
        msg = raw[2:] if tcp else raw
        seeds[base + ".msg"] = chunk(2, msg)
        seeds[base + ".half"] = chunk(3, msg)
        seeds[base + ".ring"] = chunk(0, ring_event(raw, tcp=tcp))
        if tcp:
            seeds[base + ".ipv6"] = chunk(1, ipv6_tcp(raw))
            # The same stream split after 40 bytes, then a retransmission of the tail.
            a, b = raw[:40], raw[40:]
            seeds[base + ".split"] = (chunk(0, ring_event(a, tcp=True, seq=1000)) +
                                      chunk(0, ring_event(b, tcp=True, seq=1040)) +
                                      chunk(0, ring_event(b, tcp=True, seq=1040)) +
                                      chunk(0, ring_event(raw, tcp=True, seq=1040 + len(b))))
            # Two messages in one segment.
            seeds[base + ".pair"] = chunk(0, ring_event(raw + raw, tcp=True, seq=5000))
        else:
            seeds[base + ".ipv4"] = chunk(1, ipv4_udp(raw))
            # Cut by the capture: half of it captured.
            seeds[base + ".cut"] = chunk(0, ring_event(raw[: len(raw) // 2],
                                                       payload_len=len(raw)))
    for name, data in seeds.items():
        with open(os.path.join(dst, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {dst}")


if __name__ == "__main__":
    main()
