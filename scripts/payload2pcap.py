#!/usr/bin/env python3
"""Wraps raw UDP payload files into a pcap, one Ethernet/IPv4/UDP packet per file, in the order
given, from 192.0.2.1 to 192.0.2.2 (so tshark can decode them independently of flowpulse).

Usage: payload2pcap.py OUTPUT.pcap PORT FILE...
"""
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def packet(payload: bytes, port: int) -> bytes:
    udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0) + payload
    src, dst = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + udp


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    out, port, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, name in enumerate(files):
            with open(name, "rb") as p:
                frame = packet(p.read(), port)
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)))
            f.write(frame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
