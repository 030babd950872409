#!/usr/bin/python3
"""Writes bench_fw.pcap, the traffic of `skbpf bench` for the firewall
(progs/fw.c, docs/benchmarking.md), to the path given as the only argument.

1024 Ethernet/IPv4 frames of 64 to 128 bytes (without FCS): TCP (ACK or
PSH|ACK, 3 in 4 frames) and UDP over 300 flows between 10.1.0.0/16 clients
and 10.2.0.0/16 servers, each flow with its own ports, a running IP id and
TCP sequence number, correct checksums. 32 frames (3.125 %) belong to the
two port-carrying flows that progs/fw.map-init blocks
(TCP 10.0.0.1:1234 -> 10.0.0.2:80, UDP 10.0.0.3:5000 -> 10.0.0.4:53), at
positions spread over the capture; the other flows never match a blocked
key. Deterministic: a seeded generator and fixed timestamps (frame i at
1700000000 s + i us). Plain struct: no scapy needed, and fast.
"""
import random
import struct
import sys

FRAMES = 1024
FLOWS = 300
BLOCKED_FRAMES = 32
MIN_LEN, MAX_LEN = 64, 128
T0 = 1700000000
MAC_SRC = bytes.fromhex("020000000001")
MAC_DST = bytes.fromhex("020000000002")
BLOCKED = [  # (saddr, daddr, proto, sport, dport), as in progs/fw.map-init
    ("10.0.0.1", "10.0.0.2", 6, 1234, 80),
    ("10.0.0.3", "10.0.0.4", 17, 5000, 53),
]


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(flow, length, rng):
    saddr, daddr, proto, sport, dport = flow["key"]
    l4_len = 20 if proto == 6 else 8
    payload_len = length - 14 - 20 - l4_len
    payload = bytes(rng.getrandbits(8) for _ in range(payload_len))
    src, dst = ip4(saddr), ip4(daddr)
    pseudo = src + dst + struct.pack("!BBH", 0, proto, l4_len + payload_len)
    if proto == 6:
        flags = 0x18 if payload_len else 0x10  # PSH|ACK with data, else ACK
        hdr = struct.pack("!HHIIBBHHH", sport, dport, flow["seq"], flow["ack"], 5 << 4, flags,
                          502, 0, 0)
        flow["seq"] = (flow["seq"] + payload_len) & 0xFFFFFFFF
        l4 = hdr[:16] + struct.pack("!H", csum(pseudo + hdr + payload)) + hdr[18:] + payload
    else:
        hdr = struct.pack("!HHHH", sport, dport, 8 + payload_len, 0)
        c = csum(pseudo + hdr + payload) or 0xFFFF
        l4 = hdr[:6] + struct.pack("!H", c) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), flow["id"], 0x4000, 64, proto, 0,
                     src, dst)
    flow["id"] = (flow["id"] + 1) & 0xFFFF
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    out = MAC_DST + MAC_SRC + b"\x08\x00" + ip + l4
    assert len(out) == length
    return out


def main():
    rng = random.Random(20261202)
    flows = []
    for n in range(FLOWS):
        proto = 6 if rng.random() < 0.75 else 17
        client = "10.1.%d.%d" % (n // 250, n % 250 + 1)
        server = "10.2.0.%d" % rng.randint(1, 40)
        dport = rng.choice([80, 443, 8080, 22]) if proto == 6 else rng.choice([53, 123, 443, 1194])
        flows.append({"key": (client, server, proto, rng.randint(1024, 65535), dport),
                      "seq": rng.getrandbits(32), "ack": rng.getrandbits(32),
                      "id": rng.getrandbits(16)})
    blocked = [{"key": k, "seq": rng.getrandbits(32), "ack": rng.getrandbits(32),
                "id": rng.getrandbits(16)} for k in BLOCKED]
    # Blocked frames every FRAMES/BLOCKED_FRAMES positions, jittered.
    step = FRAMES // BLOCKED_FRAMES
    blocked_at = {k * step + rng.randrange(step): k % len(blocked) for k in range(BLOCKED_FRAMES)}
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(FRAMES):
        flow = blocked[blocked_at[i]] if i in blocked_at else flows[rng.randrange(FLOWS)]
        data = frame(flow, rng.randint(MIN_LEN, MAX_LEN), rng)
        out += struct.pack("<IIII", T0, i, len(data), len(data)) + data
    with open(sys.argv[1], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
