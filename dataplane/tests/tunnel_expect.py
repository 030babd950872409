#!/usr/bin/python3
"""The frame a flow-based VXLAN / Geneve port should send, built with scapy.

tunnel_test.cpp runs this with the encapsulation's parameters and compares
the printed hex with what dataplane/tunnel.cpp built. The rules applied here
(source port from the hash, TOS with the inner ECN bits, the TTL default)
are written out again from the kernel's drivers, independently of the C++:

- udp_flow_src_port: hash ^= hash << 16; port = (hash * (max - min)) >> 32
  + min, with VXLAN's default range 32768..60999 and Geneve's 1..65535; a
  hash of 0 is replaced by jhash(the MAC addresses, skb->protocol);
- ip_tunnel_ecn_encap: the key's TOS with the inner packet's ECN bits
  (CE is sent as ECT(0));
- TTL: VXLAN's 0 means 64 (ip4_dst_hoplimit); Geneve (collect_md) sends the
  key's TTL as it is.

The IPv4 ID is the one argument that is not a rule: the kernel's is a hash
nobody can reproduce, so the test passes the ID its frame carries (and
checks on its own that a DF datagram has ID 0).
"""
import argparse
import sys

# The layers only (not scapy.all): the test runs this once per frame.
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw


def jhash(key, initval):
    """The kernel's jhash() (include/linux/jhash.h) of at most 12 bytes."""
    m = 0xFFFFFFFF

    def rol(w, s):
        return ((w << s) | (w >> (32 - s))) & m

    a = b = c = (0xDEADBEEF + len(key) + initval) & m
    k = list(key) + [0] * (12 - len(key))
    a = (a + k[0] + (k[1] << 8) + (k[2] << 16) + (k[3] << 24)) & m
    b = (b + k[4] + (k[5] << 8) + (k[6] << 16) + (k[7] << 24)) & m
    c = (c + k[8] + (k[9] << 8) + (k[10] << 16) + (k[11] << 24)) & m
    c ^= b; c = (c - rol(b, 14)) & m  # noqa: E702
    a ^= c; a = (a - rol(c, 11)) & m  # noqa: E702
    b ^= a; b = (b - rol(a, 25)) & m  # noqa: E702
    c ^= b; c = (c - rol(b, 16)) & m  # noqa: E702
    a ^= c; a = (a - rol(c, 4)) & m  # noqa: E702
    b ^= a; b = (b - rol(a, 14)) & m  # noqa: E702
    c ^= b; c = (c - rol(b, 24)) & m  # noqa: E702
    return c


def inner_dsfield(frame):
    pkt = Ether(frame)
    layer = pkt.payload
    while isinstance(layer, Dot1Q):
        layer = layer.payload
    if isinstance(layer, IP):
        return layer.tos
    if isinstance(layer, IPv6):
        return layer.tc
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--type", choices=["vxlan", "geneve"], required=True)
    ap.add_argument("--inner", required=True, help="inner frame, hex")
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--remote", required=True)
    ap.add_argument("--tos", type=int, default=0)
    ap.add_argument("--ttl", type=int, default=0)
    ap.add_argument("--label", type=int, default=0)
    ap.add_argument("--df", type=int, default=0)
    ap.add_argument("--csum", type=int, default=1)
    ap.add_argument("--hash", type=int, required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--vni", type=int, required=True)
    ap.add_argument("--options", default="", help="Geneve options, hex")
    ap.add_argument("--ip-id", type=int, default=0)
    a = ap.parse_args()

    inner = bytes.fromhex(a.inner)
    lo, hi = (32768, 60999) if a.type == "vxlan" else (1, 65535)
    h = a.hash
    if h == 0:
        # skb_get_hash() gave 0: jhash of the two MAC addresses seeded with
        # skb->protocol, a __be16 read as a number (little-endian host).
        h = jhash(inner[:12], int.from_bytes(inner[12:14], "little"))
    h = (h ^ (h << 16)) & 0xFFFFFFFF
    sport = ((h * (hi - lo)) >> 32) + lo

    ecn = inner_dsfield(inner) & 3
    tos = (a.tos & ~3) | (2 if ecn == 3 else ecn)
    ttl = a.ttl if a.type == "geneve" else (a.ttl or 64)

    v6 = ":" in a.local
    if v6:
        l3 = IPv6(src=a.local, dst=a.remote, tc=tos, fl=a.label, hlim=ttl, nh=17)
    else:
        l3 = IP(src=a.local, dst=a.remote, tos=tos, ttl=ttl, id=a.ip_id,
                flags="DF" if a.df else 0, proto=17)
    udp = UDP(sport=sport, dport=a.dport)
    if not a.csum:
        udp.chksum = 0
    if a.type == "vxlan":
        tun = VXLAN(flags=0x08, vni=a.vni)
    else:
        opts = bytes.fromhex(a.options)
        tun = GENEVE(version=0, optionlen=len(opts) // 4, proto=0x6558, vni=a.vni,
                     options=opts)
    pkt = Ether(dst=a.dst_mac, src=a.src_mac) / l3 / udp / tun / Raw(inner)
    sys.stdout.write(bytes(pkt).hex() + "\n")


if __name__ == "__main__":
    main()
