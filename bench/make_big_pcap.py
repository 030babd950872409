#!/usr/bin/python3
"""Writes a big capture for the replay benchmark (`skbpf replay` against
bench/pcap_copy, the libpcap-only peer) to the path given.

N Ethernet/IPv4 frames (default 1,000,000) of 60 to 200 bytes (without
FCS): TCP (3 flows in 4; ACK or PSH|ACK) and UDP over 4096 flows between
10.1.0.0/16 clients and 10.2.0.0/16 servers, each flow with its own ports,
a running IP id and TCP sequence number, a valid IPv4 header checksum (the
TCP checksum is left 0 and the UDP checksum is 0, "none": computing them
over every payload would make this generator many times slower, and
progs/fw.c does not look at them). About --blocked-percent of the frames
(default 3) belong to the two port-carrying flows that progs/fw.map-init
blocks (TCP 10.0.0.1:1234 -> 10.0.0.2:80, UDP 10.0.0.3:5000 -> 10.0.0.4:53;
key layout in progs/fw.c: saddr, daddr, sport, dport, proto); no other
flow matches a blocked key (other subnets).

Classic pcap (magic a1b2c3d4, microseconds), frame i at 1700000000 s + i us.
Deterministic: a seeded generator (--seed, default 1). Plain struct, no
scapy: about 2-4 s per million frames.

Usage: bench/make_big_pcap.py OUT.pcap [--frames N] [--seed S]
                              [--blocked-percent P]
"""
import argparse
import random
import struct
import sys
import time

FLOWS = 4096
MIN_LEN, MAX_LEN = 60, 200
T0 = 1700000000
MAC_SRC = bytes.fromhex("020000000001")
MAC_DST = bytes.fromhex("020000000002")
BLOCKED = [  # (saddr, daddr, proto, sport, dport), as in progs/fw.map-init
    ("10.0.0.1", "10.0.0.2", 6, 1234, 80),
    ("10.0.0.3", "10.0.0.4", 17, 5000, 53),
]
CHUNK = 65536  # frames per write


def ip4(s):
    return bytes(int(x) for x in s.split("."))


class Flow:
    """What stays the same across a flow's frames, precomputed once."""

    __slots__ = ("prefix", "addrs_ports", "proto", "csum_base", "ip_id", "seq", "l4_len")

    def __init__(self, saddr, daddr, proto, sport, dport, ip_id, seq):
        src, dst = ip4(saddr), ip4(daddr)
        self.prefix = MAC_DST + MAC_SRC + b"\x08\x00\x45\x00"  # eth + version/ihl, tos
        self.addrs_ports = src + dst + struct.pack("!HH", sport, dport)
        self.proto = proto
        self.l4_len = 20 if proto == 6 else 8
        # Header checksum: the constant 16-bit words (0x4500, ttl/proto,
        # addresses, flags 0x4000 = DF) summed once; per frame only the
        # total length and the id are added.
        words = struct.unpack("!4H", src + dst)
        self.csum_base = 0x4500 + (64 << 8 | proto) + 0x4000 + sum(words)
        self.ip_id = ip_id
        self.seq = seq


def make_flows(rng):
    flows = []
    for _ in range(FLOWS):
        saddr = "10.1.%d.%d" % (rng.randrange(256), rng.randrange(1, 255))
        daddr = "10.2.%d.%d" % (rng.randrange(256), rng.randrange(1, 255))
        proto = 6 if rng.random() < 0.75 else 17
        sport = rng.randrange(1024, 65536)
        dport = rng.choice((80, 443, 8080, 53, 123, 5201)) if rng.random() < 0.5 else rng.randrange(1, 65536)
        flows.append(Flow(saddr, daddr, proto, sport, dport, rng.randrange(65536), rng.getrandbits(32)))
    blocked = [Flow(s, d, p, sp, dp, rng.randrange(65536), rng.getrandbits(32)) for s, d, p, sp, dp in BLOCKED]
    return flows, blocked


def write(path, frames, seed, blocked_percent):
    rng = random.Random(seed)
    flows, blocked_flows = make_flows(rng)
    pool = rng.randbytes(1 << 16)  # payload bytes: slices of one random block
    pool_span = len(pool) - MAX_LEN
    flow_of = rng.choices(flows, k=frames)
    lengths = rng.choices(range(MIN_LEN, MAX_LEN + 1), k=frames)
    p_blocked = blocked_percent / 100.0
    n_blocked = 0

    rec = struct.Struct("<IIII").pack
    ip_mid = struct.Struct("!HH2sBBH").pack  # tot_len, id, flags/frag, ttl, proto, csum
    tcp_tail = struct.Struct("!IIBBHHH").pack  # seq, ack, off, flags, win, csum, urg
    udp_tail = struct.Struct("!HH").pack  # len, csum
    df = b"\x40\x00"

    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
        chunk = []
        for i in range(frames):
            if rng.random() < p_blocked:
                f = blocked_flows[n_blocked & 1]
                n_blocked += 1
            else:
                f = flow_of[i]
            length = lengths[i]
            tot = length - 14
            plen = tot - 20 - f.l4_len
            ident = f.ip_id
            f.ip_id = (ident + 1) & 0xFFFF
            s = f.csum_base + tot + ident
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            if f.proto == 6:
                seq = f.seq
                f.seq = (seq + plen) & 0xFFFFFFFF
                l4 = tcp_tail(seq, 1, 0x50, 0x18 if i & 3 == 0 else 0x10, 65535, 0, 0)
            else:
                l4 = udp_tail(8 + plen, 0)
            o = (i * 2654435761) % pool_span
            chunk.append(rec(T0 + i // 1000000, i % 1000000, length, length) + f.prefix +
                         ip_mid(tot, ident, df, 64, f.proto, ~s & 0xFFFF) + f.addrs_ports + l4 +
                         pool[o:o + plen])
            if len(chunk) == CHUNK:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    return n_blocked


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output pcap path")
    ap.add_argument("--frames", type=int, default=1000000, help="number of frames (default 1000000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--blocked-percent", type=float, default=3.0,
                    help="share of frames in progs/fw.map-init's blocked flows (default 3)")
    a = ap.parse_args()
    if a.frames < 0 or not 0 <= a.blocked_percent <= 100:
        ap.error("--frames must be >= 0 and --blocked-percent within 0..100")
    t = time.monotonic()
    n_blocked = write(a.out, a.frames, a.seed, a.blocked_percent)
    print("make_big_pcap: %s: %d frames, %d in blocked flows, %.1f s" %
          (a.out, a.frames, n_blocked, time.monotonic() - t), file=sys.stderr)


if __name__ == "__main__":
    main()
