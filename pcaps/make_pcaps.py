#!/usr/bin/python3
"""Writes the test captures for progs/ (docs/progs.md): one per program,
NAME.pcap, plus mixed.pcap, into the directory given as the only argument.

Deterministic: fixed addresses, ports, IP ids, TCP sequence numbers and
payloads (random ones from a seeded generator), and fixed timestamps (frame
i of a capture at 1700000000 + i/1000 s), so that every run writes the
same bytes. Run with Debian's /usr/bin/python3 and python3-scapy.

Every capture starts with the mixed frames (IPv4/IPv6, TCP/UDP/ICMP, ARP,
VLAN and QinQ tags, IP options, fragments, runts), then adds the frames
that reach the interesting paths of its program.
"""
import os
import random
import struct
import sys

from scapy.all import (ARP, Dot3, Dot1AD, Dot1Q, Ether, ICMP, ICMPv6EchoRequest, IP, IPOption_RR,
                       IPOption_Router_Alert, IPv6, LLC, Raw, TCP, UDP, GRE, fragment, conf)

conf.verb = 0
MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
T0 = 1700000000


def eth(dst=MAC_B, src=MAC_A):
    return Ether(dst=dst, src=src)


def payload(rng, n):
    return Raw(bytes(rng.getrandbits(8) for _ in range(n)))


def mixed(rng):
    """The frames every capture starts with."""
    big_udp = eth() / IP(src="10.9.0.1", dst="10.9.0.2", id=77) / UDP(sport=4000, dport=4001) / \
        payload(rng, 1400)
    frags = fragment(big_udp[IP], fragsize=512)
    frames = [
        eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=1) / TCP(sport=1234, dport=80, flags="S", seq=1000),
        eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=2) /
        TCP(sport=1234, dport=80, flags="PA", seq=1001, ack=5,
            options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) / payload(rng, 40),
        eth() / IP(src="10.0.0.3", dst="10.0.0.4", id=3) / UDP(sport=5000, dport=53) / payload(rng, 30),
        eth() / IP(src="10.0.0.5", dst="10.0.0.6", id=4) / ICMP(type=8, id=1, seq=1) / payload(rng, 16),
        eth() / IP(src="10.0.0.6", dst="10.0.0.5", id=5) / ICMP(type=0, id=1, seq=1) / payload(rng, 16),
        eth() / IP(src="10.0.0.7", dst="10.0.0.8", id=6) / GRE() / payload(rng, 8),
        # IP options: record route (+ NOP padding) and router alert.
        eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=7, options=[IPOption_RR(routers=["0.0.0.0"] * 2)]) /
        TCP(sport=1234, dport=80, flags="S"),
        eth() / IP(src="10.0.0.3", dst="10.0.0.4", id=8, options=[IPOption_Router_Alert()]) /
        UDP(sport=5000, dport=53) / payload(rng, 8),
        eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1234, dport=80, flags="S"),
        eth() / IPv6(src="2001:db8::3", dst="2001:db8::4") / UDP(sport=5000, dport=53) / payload(rng, 12),
        eth() / IPv6(src="2001:db8::5", dst="2001:db8::6") / ICMPv6EchoRequest(id=1, seq=1),
        eth(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC_A, psrc="10.0.0.1", pdst="10.0.0.2"),
        eth(dst=MAC_A, src=MAC_B) / ARP(op=2, hwsrc=MAC_B, psrc="10.0.0.2", hwdst=MAC_A, pdst="10.0.0.1"),
        eth() / Dot1Q(vlan=10, prio=5) / IP(src="10.0.0.1", dst="10.0.0.2", id=9) / TCP(sport=1234, dport=80),
        eth() / Dot1AD(vlan=200) / Dot1Q(vlan=10) / IP(src="10.0.0.3", dst="10.0.0.4", id=10) /
        UDP(sport=5000, dport=53),
        Dot3(dst=MAC_B, src=MAC_A) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / payload(rng, 20),  # 802.3 length
    ]
    frames += [eth() / f for f in frags]                               # 3 fragments
    frames += [
        eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=11, ttl=1) / TCP(sport=1234, dport=80),
        eth() / IP(src="10.0.0.3", dst="10.0.0.4", id=12) / UDP(sport=5000, dport=53, chksum=0) /
        payload(rng, 10),                                              # UDP without checksum
    ]
    frames = [bytes(f) for f in frames]
    # Truncated and runt frames: an IPv4 header cut short, the bare Ethernet
    # header, an IPv6 header and an ARP packet cut short, and frames below
    # 14 bytes (test-run refuses those).
    # (BPF_PROG_TEST_RUN also refuses IPv4/IPv6 frames shorter than the IP header.)
    frames += [frames[0][:24], frames[0][:14], frames[8][:34], frames[11][:20],
               frames[0][:13], frames[0][:6], frames[0][:1]]
    return frames


def ip_tcp(src, dst, sport, dport, ident, **ip_kw):
    return bytes(eth() / IP(src=src, dst=dst, id=ident, **ip_kw) / TCP(sport=sport, dport=dport, flags="S"))


def ip_udp(src, dst, sport, dport, ident, rng, **kw):
    return bytes(eth() / IP(src=src, dst=dst, id=ident) / UDP(sport=sport, dport=dport, **kw) / payload(rng, 24))


def extra(name, rng):
    if name == "fw":
        return [
            ip_tcp("10.0.0.1", "10.0.0.2", 1235, 80, 100),      # near miss: sport
            ip_tcp("10.0.0.1", "10.0.0.2", 1234, 443, 101),     # near miss: dport
            ip_udp("10.0.0.3", "10.0.0.4", 5000, 53, 102, rng),  # blocked
            ip_tcp("10.0.0.3", "10.0.0.4", 5000, 53, 103),      # same ports, TCP: passes
        ]
    if name == "dnat":
        vip = "10.0.0.100"
        return [
            ip_tcp("10.0.0.1", vip, 40000, 80, 200),
            bytes(eth() / IP(src="10.0.0.1", dst=vip, id=201) / TCP(sport=40001, dport=80, flags="PA", seq=7) /
                  payload(rng, 100)),
            ip_tcp("10.0.0.1", vip, 40000, 81, 202),                      # port not a VIP
            ip_udp("10.0.0.2", vip, 40002, 53, 203, rng),
            ip_udp("10.0.0.2", vip, 40003, 53, 204, rng, chksum=0),       # zero UDP checksum
            bytes(eth() / IP(src="10.0.0.1", dst=vip, id=205, options=[IPOption_Router_Alert()]) /
                  TCP(sport=40004, dport=80, flags="S")),
            bytes(eth() / fragment(IP(src="10.0.0.2", dst=vip, id=206) / UDP(sport=1, dport=53) /
                                   payload(rng, 100), fragsize=64)[0]),
            ip_udp("10.0.0.2", "10.0.0.101", 40002, 53, 207, rng),        # other address
        ]
    if name == "route":
        return [
            ip_tcp("10.0.0.1", "10.1.9.9", 1, 2, 300),            # 10.1.0.0/16
            ip_tcp("10.0.0.1", "10.1.2.3", 1, 2, 301),            # 10.1.2.0/24
            ip_tcp("10.0.0.1", "10.1.2.3", 1, 2, 302, ttl=1),     # TTL expires
            ip_tcp("10.0.0.1", "10.1.2.3", 1, 2, 303, ttl=2),
            ip_tcp("10.0.0.1", "10.1.2.3", 1, 2, 304, ttl=255),
            ip_tcp("10.0.0.1", "192.0.2.1", 1, 2, 305),           # no route
            bytes(eth() / IP(src="10.0.0.1", dst="10.1.2.4", id=306, options=[IPOption_Router_Alert()]) /
                  UDP(sport=1, dport=2)),
        ]
    if name == "vxlan_encap":
        return [
            ip_tcp("10.0.0.1", "10.2.0.1", 1, 2, 400),
            bytes(eth() / IP(src="10.0.0.1", dst="10.2.0.2", id=401, tos=0x10) / UDP(sport=1, dport=2)),
            ip_tcp("10.0.0.1", "10.2.0.3", 1, 2, 402),            # no tunnel
        ]
    if name == "vlan":
        return [
            bytes(eth() / Dot1Q(vlan=4094, prio=7) / IPv6(src="2001:db8::1", dst="2001:db8::2") /
                  UDP(sport=1, dport=2)),
            bytes(eth() / Dot1Q(vlan=0) / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2")),
            bytes(eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src="10.0.0.1", dst="10.0.0.2")),
        ]
    if name == "globals":
        return [
            ip_tcp("10.0.0.1", "10.0.0.2", 1, 23, 500),
            ip_udp("10.0.0.1", "10.0.0.2", 1, 445, 501, rng),
            ip_tcp("10.0.0.1", "10.0.0.2", 1, 3389, 502),
            ip_tcp("10.0.0.1", "10.0.0.2", 1, 0, 503),            # port 0 is not "blocked"
            bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=22) / payload(rng, 100)),
        ]
    if name == "sockfilter":
        return [
            bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_RR(routers=["0.0.0.0"] * 4)]) /
                  TCP(sport=1, dport=2, options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)),
                                                 ("NOP", None), ("WScale", 7)])),
            bytes(eth() / fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=600) / TCP(sport=1, dport=2) /
                                   payload(rng, 100), fragsize=64)[1]),
            # IPv4 + TCP header cut short: LD_ABS past the end returns 0.
            ip_tcp("10.0.0.1", "10.0.0.2", 1, 2, 601)[:14 + 20 + 10],
        ]
    return []


PROGS = ["fw", "dnat", "dispatch", "vlan", "route", "vxlan_encap", "ipip", "sockfilter", "globals"]


def write(path, frames):
    """Classic little-endian pcap, microsecond timestamps, DLT_EN10MB: written
    by hand so that nothing but the frames and T0 decides the bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", T0 + i // 1000, (i % 1000) * 1000, len(frame), len(frame)))
            f.write(frame)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "mixed.pcap"), mixed(random.Random(1)))
    # No frames: the receive side of a port that only transmits (skbpf run's
    # embedded default).
    write(os.path.join(out, "empty.pcap"), [])
    for i, name in enumerate(PROGS):
        rng = random.Random(100 + i)
        write(os.path.join(out, name + ".pcap"), mixed(random.Random(1)) + extra(name, rng))


if __name__ == "__main__":
    main()
