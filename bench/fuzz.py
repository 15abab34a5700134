#!/usr/bin/env python3
"""Mutated DNS messages against the release binary, over UDP and TCP, then a check that it still
answers: bench/fuzz.sh [UDP_COUNT] [TCP_COUNT] builds release and runs this.

Messages are valid queries (with and without EDNS, several types) with random bytes flipped,
cut, repeated or appended, plus pure noise. Prints how many were sent, how many replies came
back, and whether the server survived and still answers correctly.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

BINARY = os.environ.get("CLUSTERDNS", "target/release/clusterdns")
NAMES = [
    "web.shop.svc.cluster.local", "db.shop.svc.cluster.local", "_postgres._tcp.db.shop.svc.cluster.local",
    "payments.shop.svc.cluster.local", "20.0.96.10.in-addr.arpa", "cluster.local", "nope.shop.svc.cluster.local",
]
TYPES = [1, 28, 33, 12, 6, 2, 16, 255, 252, 5]


def query(name, qtype, edns):
    header = struct.pack(">HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 1 if edns else 0)
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    body = qname + struct.pack(">HH", qtype, 1)
    if edns:
        body += b"\0" + struct.pack(">HHIH", 41, random.choice([512, 1232, 4096, 65535]), 0, 0)
    return header + body


def mutate(packet):
    data = bytearray(packet)
    for _ in range(random.randint(1, 4)):
        choice = random.random()
        if choice < 0.4 and data:
            data[random.randrange(len(data))] = random.getrandbits(8)
        elif choice < 0.55:
            del data[random.randrange(len(data) + 1):]
        elif choice < 0.7 and data:
            start = random.randrange(len(data))
            data[start:start] = data[start:start + random.randint(1, 40)] * random.randint(1, 20)
        elif choice < 0.85:
            data += os.urandom(random.randint(1, 64))
        else:
            data = bytearray(os.urandom(random.randint(0, 600)))
    return bytes(data[:4096])


def answers(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(query("web.shop.svc.cluster.local", 1, False), ("127.0.0.1", port))
    reply = sock.recv(4096)
    return struct.unpack(">H", reply[6:8])[0] == 1 and reply[3] & 0xF == 0


def main():
    udp_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    tcp_count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    random.seed(1)
    # The server's log goes to a file, read while it runs: a pipe nobody drains would block it.
    log = tempfile.NamedTemporaryFile("w+", prefix="clusterdns-fuzz-", suffix=".log")
    server = subprocess.Popen(
        [BINARY, "--manifests", "zones/demo", "--listen", "127.0.0.1:0", "--resolv-conf", "/dev/null"],
        stdout=subprocess.DEVNULL, stderr=log)
    port = None
    deadline = time.time() + 30
    while port is None or "serving the cluster zone" not in open(log.name).read():
        if time.time() > deadline:
            sys.exit("clusterdns did not start:\n" + open(log.name).read())
        time.sleep(0.05)
        for line in open(log.name):
            if "listening for UDP on" in line:
                port = int(line.rsplit(":", 1)[1])
    started = time.time()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    replies = 0
    for i in range(udp_count):
        packet = mutate(query(random.choice(NAMES), random.choice(TYPES), random.random() < 0.5))
        try:
            sock.sendto(packet, ("127.0.0.1", port))
        except BlockingIOError:
            pass
        while True:
            try:
                sock.recv(65535)
                replies += 1
            except BlockingIOError:
                break
    udp_time = time.time() - started
    tcp_replies = 0
    conn = None
    for i in range(tcp_count):
        if conn is None or i % 100 == 0:
            if conn:
                conn.close()
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setblocking(False)
        message = mutate(query(random.choice(NAMES), random.choice(TYPES), random.random() < 0.5))
        framed = struct.pack(">H", len(message)) + message if random.random() < 0.9 else message
        try:
            conn.sendall(framed)
            while True:
                data = conn.recv(65535)
                if not data:
                    conn.close()
                    conn = None
                    break
                tcp_replies += 1
        except (BlockingIOError, ConnectionError, OSError):
            if conn is not None and not isinstance(sys.exc_info()[1], BlockingIOError):
                conn = None
    alive = server.poll() is None
    ok = alive and answers(port)
    server.kill()
    lines = open(log.name).read().splitlines()
    print(f"log: {len(lines)} lines in all; the last ones:")
    for line in lines[-5:]:
        print("  " + line[:200])
    print(f"UDP: {udp_count} mutated messages in {udp_time:.1f}s, {replies} replies")
    print(f"TCP: {tcp_count} mutated messages on {tcp_count // 100} connections, {tcp_replies} reads")
    print(f"server alive afterwards: {alive}; answers web.shop correctly: {ok}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
