#!/usr/bin/python3
"""Writes filter_mix.pcap, the capture of the classic BPF oracle test
(tests/filter_oracle_test.cpp), to the path given as the only argument.

About 2,000 Ethernet frames chosen to reach the branches tcpdump
expressions take: IPv4 TCP/UDP/ICMP over many ports (20-25, 53, 80, 443,
8080, high ports) and TCP flag combinations, IPv4 with options (IHL > 5)
and fragments (non-first fragments carry no ports, which port filters must
see), IPv6 TCP/UDP/ICMPv6 with and without extension headers (hop-by-hop,
routing, fragment), 802.1Q tags (several ids, the 0x88a8 and 0x9100 outer
types, QinQ), ARP, broadcast and multicast destinations, 802.3 length
frames with LLC/SNAP, other EtherTypes (LLDP, MPLS, PPPoE), lengths from
60 to 1514 bytes, truncated records (captured length < wire length, as a
tcpdump -s snap length leaves them) and records shorter than an Ethernet
header.

Deterministic: a seeded generator and fixed timestamps (frame i at
1700000000 s + i ms). scapy builds the frames; the file is written here with
struct, since scapy's writer cannot write a record whose captured length is
below its wire length. Run with Debian's /usr/bin/python3 and python3-scapy.
"""
import random
import struct
import sys

from scapy.all import (ARP, Dot1AD, Dot1Q, Dot3, Ether, GRE, ICMP, ICMPv6DestUnreach,
                       ICMPv6EchoReply, ICMPv6EchoRequest, IP, IPOption_NOP, IPOption_RR,
                       IPOption_Router_Alert, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, LLC, SNAP, Raw, TCP, UDP, conf, fragment)

conf.verb = 0
T0 = 1700000000

MACS = ["02:00:00:00:00:01", "02:00:00:00:00:02", "00:11:22:33:44:55", "00:1b:21:aa:bb:cc"]
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = ["01:00:5e:00:00:fb", "01:00:5e:01:02:03", "33:33:00:00:00:01", "01:80:c2:00:00:00"]
IP4 = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.1.2.3", "10.1.200.9", "10.2.0.1", "192.168.1.10",
       "192.168.5.5", "192.169.0.1", "172.16.0.1", "8.8.8.8", "127.0.0.1"]
IP4_DST_EXTRA = ["224.0.0.251", "239.1.2.3", "255.255.255.255", "10.255.255.255"]
IP6 = ["fe80::1", "fe80::2", "2001:db8::1", "2001:db8:1::5", "2001:db9::1", "::1",
       "2001:db8:ffff::10"]
IP6_DST_EXTRA = ["ff02::1", "ff05::2"]
PORTS = [0, 19, 20, 21, 22, 23, 24, 25, 26, 53, 67, 80, 123, 443, 1023, 1024, 1234, 5000, 8080,
         40000, 65535]
FLAGS = ["S", "SA", "F", "FA", "R", "RA", "PA", "A", "U", "UA", "", "FSRPAUEC"]
VLAN_IDS = [0, 1, 10, 100, 200, 4094, 4095]
SIZES = [0, 1, 6, 18, 46, 100, 200, 300, 500, 575, 576, 600, 900, 1000, 1001, 1200, 1400, 1472]


def icmp4(icmp_type, code):
    # Fixed timestamps: scapy fills those of a timestamp request with the clock.
    return ICMP(type=icmp_type, code=code, ts_ori=1000, ts_rx=2000, ts_tx=3000)


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.ident = 0

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def payload(self, n):
        return Raw(bytes(self.rng.getrandbits(8) for _ in range(n)))

    def next_id(self):
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident

    def mac_dst(self):
        r = self.rng.random()
        if r < 0.08:
            return BROADCAST
        if r < 0.16:
            return self.pick(MULTICAST)
        return self.pick(MACS)

    def eth(self, dst=None, src=None):
        return Ether(dst=dst or self.mac_dst(), src=src or self.pick(MACS))

    def ip4_dst(self):
        return self.pick(IP4_DST_EXTRA) if self.rng.random() < 0.1 else self.pick(IP4)

    def ip6_dst(self):
        return self.pick(IP6_DST_EXTRA) if self.rng.random() < 0.1 else self.pick(IP6)

    def ip_options(self):
        return self.pick([[IPOption_Router_Alert()], [IPOption_RR(routers=["0.0.0.0"] * 2)],
                          [IPOption_NOP()] * 4, [IPOption_RR(routers=["10.0.0.9"] * 8)]])

    def l4(self, v6):
        """A transport header with payload: TCP, UDP, ICMP(v6) or another protocol."""
        kind = self.rng.random()
        size = self.pick(SIZES) if self.rng.random() < 0.6 else self.rng.randrange(0, 1400)
        if kind < 0.45:
            opts = [("MSS", 1460), ("NOP", None), ("WScale", 7)] if self.rng.random() < 0.3 else []
            return TCP(sport=self.pick(PORTS), dport=self.pick(PORTS), flags=self.pick(FLAGS),
                       seq=self.rng.getrandbits(32), ack=self.rng.getrandbits(32),
                       urgptr=self.rng.choice([0, 0, 5]), options=opts) / self.payload(size)
        if kind < 0.8:
            return UDP(sport=self.pick(PORTS), dport=self.pick(PORTS)) / self.payload(size)
        if kind < 0.92:
            if v6:
                return self.pick([ICMPv6EchoRequest(id=1, seq=2), ICMPv6EchoReply(id=1, seq=2),
                                  ICMPv6DestUnreach(code=4)]) / self.payload(size % 200)
            return icmp4(self.pick([0, 3, 5, 8, 11, 13]), self.pick([0, 1, 3])) / \
                self.payload(size % 200)
        return GRE() / self.payload(size % 300)

    def l3(self):
        """An IPv4 or IPv6 packet, sometimes with options or extension headers."""
        if self.rng.random() < 0.62:
            kw = {}
            if self.rng.random() < 0.15:
                kw["options"] = self.ip_options()
            return IP(src=self.pick(IP4), dst=self.ip4_dst(), id=self.next_id(),
                      ttl=self.pick([1, 32, 63, 64, 128, 255]), tos=self.pick([0, 0, 0x10, 0xb8]),
                      **kw) / self.l4(False)
        pkt = IPv6(src=self.pick(IP6), dst=self.ip6_dst(), hlim=self.pick([1, 64, 255]))
        r = self.rng.random()
        if r < 0.12:
            pkt = pkt / IPv6ExtHdrHopByHop()
        elif r < 0.18:
            pkt = pkt / IPv6ExtHdrRouting()
        elif r < 0.24:
            pkt = pkt / IPv6ExtHdrFragment(id=self.next_id(), offset=self.pick([0, 0, 8]),
                                           m=self.pick([0, 1]))
        return pkt / self.l4(True)

    def l2(self, inner):
        """Plain Ethernet, one 802.1Q tag or two (QinQ, several outer types)."""
        r = self.rng.random()
        e = self.eth()
        if r < 0.7:
            return e / inner
        if r < 0.88:
            return e / Dot1Q(vlan=self.pick(VLAN_IDS), prio=self.rng.randrange(8)) / inner
        outer = self.pick([0x88a8, 0x8100, 0x9100])
        return (Ether(dst=e.dst, src=e.src, type=outer) /
                Dot1Q(vlan=self.pick(VLAN_IDS)) / Dot1Q(vlan=self.pick(VLAN_IDS)) / inner)


def systematic(g):
    """Every port with every flag combination; UDP both ways; ICMP types."""
    out = []
    for port in PORTS:
        for flags in FLAGS:
            sport, dport = (port, g.pick(PORTS)) if g.rng.random() < 0.5 else (g.pick(PORTS), port)
            out.append(g.eth() / IP(src=g.pick(IP4), dst=g.ip4_dst(), id=g.next_id()) /
                       TCP(sport=sport, dport=dport, flags=flags, seq=g.rng.getrandbits(32)))
        out.append(g.eth() / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                   UDP(sport=port, dport=40000) / g.payload(g.pick(SIZES)))
        out.append(g.eth() / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                   UDP(sport=40000, dport=port) / g.payload(g.pick(SIZES)))
        out.append(g.eth() / IPv6(src=g.pick(IP6), dst=g.pick(IP6)) /
                   TCP(sport=port, dport=g.pick(PORTS), flags=g.pick(FLAGS)))
        out.append(g.eth() / IPv6(src=g.pick(IP6), dst=g.pick(IP6)) /
                   UDP(sport=g.pick(PORTS), dport=port) / g.payload(20))
    for vid in (100, 200, 4094):  # tagged traffic on the well-known ports
        for port in (53, 80, 443):
            out.append(g.eth() / Dot1Q(vlan=vid) / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                       TCP(sport=40000, dport=port, flags="S"))
            out.append(g.eth() / Dot1Q(vlan=vid) / IPv6(src=g.pick(IP6), dst=g.pick(IP6)) /
                       UDP(sport=port, dport=40000) / g.payload(30))
            out.append(Ether(dst=g.mac_dst(), src=g.pick(MACS), type=0x88a8) / Dot1Q(vlan=vid) /
                       Dot1Q(vlan=100) / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                       TCP(sport=port, dport=1234, flags="SA"))
    for i in range(6):  # HTTP requests (payload matches at the TCP data offset)
        out.append(g.eth() / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                   TCP(sport=40000 + i, dport=80, flags="PA",
                       options=[("NOP", None)] * (4 * (i % 3))) /
                   Raw(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"))
    for t in range(0, 19):
        out.append(g.eth() / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                   icmp4(t, 0) / g.payload(32))
    return out


def fragments(g):
    """IPv4 fragments of TCP and UDP (first and later ones), some tagged;
    IPv6 fragment headers."""
    out = []
    for i in range(24):
        l4 = (TCP(sport=g.pick(PORTS), dport=g.pick(PORTS), flags="PA") if i % 2 else
              UDP(sport=g.pick(PORTS), dport=g.pick(PORTS)))
        pkt = IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) / l4 / g.payload(600 + 37 * i)
        for f in fragment(pkt, fragsize=g.pick([64, 256, 512])):
            out.append(g.eth() / Dot1Q(vlan=100) / f if i % 5 == 0 else g.eth() / f)
    for i in range(12):
        inner = (UDP(sport=53, dport=g.pick(PORTS)) if i % 2 else
                 TCP(sport=g.pick(PORTS), dport=80))
        for off in (0, 64, 185):
            out.append(g.eth() / IPv6(src=g.pick(IP6), dst=g.pick(IP6)) /
                       IPv6ExtHdrFragment(id=g.next_id(), offset=off, m=int(off == 0)) /
                       inner / g.payload(40))
    return out


def link_layer(g):
    """ARP, 802.3 length frames (LLC, SNAP), other EtherTypes."""
    out = []
    for i in range(20):
        src = g.pick(IP4)
        out.append(Ether(dst=BROADCAST, src=g.pick(MACS)) / ARP(op=1, psrc=src, pdst=g.pick(IP4)))
        out.append(g.eth() / ARP(op=2, psrc=g.pick(IP4), pdst=src))
        out.append(Ether(dst=g.pick(MULTICAST), src=g.pick(MACS), type=0x88cc) / g.payload(40 + i))
        out.append(Dot3(dst=g.pick(MULTICAST + MACS), src=g.pick(MACS)) /
                   LLC(dsap=0x42, ssap=0x42, ctrl=3) / g.payload(20 + i))
        out.append(Dot3(dst=g.pick(MACS), src=g.pick(MACS)) / LLC(dsap=0xaa, ssap=0xaa, ctrl=3) /
                   SNAP(OUI=0, code=0x0800) / IP(src=g.pick(IP4), dst=g.pick(IP4)) /
                   UDP(sport=53, dport=53))
        out.append(Dot3(dst=g.pick(MACS), src=g.pick(MACS)) / LLC(dsap=0xe0, ssap=0xe0, ctrl=3) /
                   g.payload(30))  # IPX over 802.2
        # MPLS (one label, bottom of stack) over IPv4, PPPoE session with IPv4.
        out.append(Ether(dst=g.pick(MACS), src=g.pick(MACS), type=0x8847) /
                   Raw(struct.pack("!I", (1000 + i) << 12 | 1 << 8 | 64)) /
                   IP(src=g.pick(IP4), dst=g.pick(IP4)) / TCP(dport=80))
        out.append(Ether(dst=g.pick(MACS), src=g.pick(MACS), type=0x8864) /
                   Raw(struct.pack("!BBHHH", 0x11, 0, 0x1234, 44, 0x0021)) /
                   IP(src=g.pick(IP4), dst=g.pick(IP4)) / UDP(sport=53, dport=g.pick(PORTS)) /
                   g.payload(16))
        out.append(Ether(dst=g.mac_dst(), src=g.pick(MACS), type=g.pick([0x0800, 0x86dd])) /
                   g.payload(g.pick([0, 3, 19, 39, 60])))  # IP EtherType, short or no header
    return out


def pad(b):
    """Ethernet's minimum frame (60 bytes without FCS), as a NIC sends it."""
    return b + bytes(60 - len(b)) if len(b) < 60 else b


def main():
    g = Gen(20260310)
    frames = [pad(bytes(p)) for p in systematic(g) + fragments(g) + link_layer(g)]
    while len(frames) < 1850:
        b = pad(bytes(g.l2(g.l3())))
        if len(b) <= 1514:  # Ethernet's largest frame (without FCS)
            frames.append(b)
    # Odd IPv4 headers: IHL < 5, IHL 15 with a TCP header after, version 6
    # in an IPv4 EtherType, a total length larger than the frame.
    for ihl in (0, 4, 5, 6, 15):
        b = bytearray(bytes(g.eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=g.next_id(),
                                          options=[IPOption_NOP()] * 40) /
                            TCP(sport=80, dport=443, flags="S")))
        b[14] = 0x40 | ihl
        frames.append(bytes(b))
    b = bytearray(bytes(g.eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=53, dport=53)))
    b[14] = 0x65
    frames.append(bytes(b))
    records = [(f, len(f)) for f in frames]
    # Truncated records (captured < wire length), as tcpdump -s 64/96/128
    # and short snap lengths leave them: big and small frames of each kind.
    for i in range(120):
        f = frames[g.rng.randrange(len(frames))]
        if i < 20:
            f = pad(bytes(g.eth() / IP(src=g.pick(IP4), dst=g.pick(IP4), id=g.next_id()) /
                          TCP(sport=g.pick(PORTS), dport=80, flags="PA") / g.payload(1200 + i)))
        cap = g.pick([14, 20, 34, 38, 54, 64, 68, 96, 128, 200])
        if cap < len(f):
            records.append((f[:cap], len(f)))
    # Records shorter than an Ethernet header (wire length equal and larger).
    base = frames[0]
    for n in (0, 1, 6, 12, 13):
        records.append((base[:n], n))
        records.append((base[:n], len(base)))
    with open(sys.argv[1], "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
        for i, (data, wire) in enumerate(records):
            out.write(struct.pack("<IIII", T0 + i // 1000, (i % 1000) * 1000, len(data), wire))
            out.write(data)


if __name__ == "__main__":
    main()
