#!/usr/bin/env python3
"""user_net_peer.py: the host side of the [linux] user-mode networking tests.

Runs the servers a guest on `--net user` talks to, all on this network namespace's addresses
(127.0.0.1 is what the guest reaches as its gateway 10.0.2.2), then runs minivmm (the command
after --) with the default Linux guest's interactive shell on its console and types the guest's
side of each check into it, one --step at a time. Everything minivmm prints is copied to stdout,
followed by what the peer saw, as "peer: ..." lines; the caller asserts on both.

Servers:
  --http-port P      HTTP on 127.0.0.1:P serving /blob (--blob-size bytes of random data)
  --tftp-port P      TFTP (RFC 1350, octet mode) on 127.0.0.1:P: reads of "blob", writes of any name
  --dns ADDR         DNS on ADDR:53 (UDP and TCP) answering every A query with --dns-answer
  --extra ADDR:PORT  a TCP server that writes "extra-reachable" and closes (a destination that is
                     neither the gateway nor forwarded: restrict=on must keep the guest from it)
Steps (--step CMD, repeatable): CMD runs in the guest's shell; the peer prints
  "peer: step N exit=S". The step "@hostfwd PORT SIZE" is the host's side of a forward instead:
  connect to 127.0.0.1:PORT, send SIZE random bytes while reading to the guest's end, print
  "peer: hostfwd sent N md5 X received M md5 Y".
Exit status: minivmm's (after the last step the guest is powered off); 3 when a step timed out.
"""
import argparse
import hashlib
import os
import re
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import http.server

STEP_TIMEOUT = 120  # seconds; the guest runs nested under TCG in CI

output = bytearray()
output_lock = threading.Condition()


def say(line):
    sys.stdout.write(f"peer: {line}\n")
    sys.stdout.flush()


def md5(data):
    return hashlib.md5(data).hexdigest()


def serve_http(port, blob):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/blob":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def serve_tftp(port, blob):
    """One transfer at a time, lock-step, 512-byte blocks (RFC 1350)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))

    def transfer(request, peer):
        opcode = struct.unpack("!H", request[:2])[0]
        name = request[2:].split(b"\0")[0].decode(errors="replace")
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a port of its own (TID)
        t.settimeout(10)
        t.bind(("127.0.0.1", 0))
        if opcode == 1:  # RRQ
            if name != "blob":
                t.sendto(struct.pack("!HH", 5, 1) + b"no such file\0", peer)
                return
            block = 1
            while True:
                chunk = blob[(block - 1) * 512:block * 512]
                for _ in range(5):
                    t.sendto(struct.pack("!HH", 3, block & 0xffff) + chunk, peer)
                    try:
                        ack, _ = t.recvfrom(516)
                    except socket.timeout:
                        continue
                    if struct.unpack("!HH", ack[:4]) == (4, block & 0xffff):
                        break
                else:
                    say("tftp read timed out")
                    return
                if len(chunk) < 512:
                    say(f"tftp sent {len(blob)} bytes md5 {md5(blob)}")
                    return
                block += 1
        elif opcode == 2:  # WRQ
            data = bytearray()
            block = 0
            t.sendto(struct.pack("!HH", 4, 0), peer)
            while True:
                try:
                    packet, _ = t.recvfrom(516)
                except socket.timeout:
                    say("tftp write timed out")
                    return
                op, number = struct.unpack("!HH", packet[:4])
                if op != 3:
                    return
                if number == (block + 1) & 0xffff:
                    data += packet[4:]
                    block += 1
                t.sendto(struct.pack("!HH", 4, number), peer)
                if len(packet) - 4 < 512:
                    say(f"tftp received {len(data)} bytes md5 {md5(data)}")
                    return

    def loop():
        while True:
            request, peer = sock.recvfrom(516)
            transfer(request, peer)

    threading.Thread(target=loop, daemon=True).start()


def dns_answer(query, answer):
    """A response to `query` with one A record `answer` for its question."""
    qid, flags = struct.unpack("!HH", query[:4])
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]
    name = []
    i = 12
    while i < len(query) and query[i] != 0:
        name.append(query[i + 1:i + 1 + query[i]].decode(errors="replace"))
        i += query[i] + 1
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0] if end + 3 <= len(query) else 0
    say(f"dns query {'.'.join(name)} type {qtype}")
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
    body = question
    if qtype == 1:
        body += struct.pack("!HHHIH", 0xc00c, 1, 1, 60, 4) + socket.inet_aton(answer)
    return header + body


def serve_dns(address, answer):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))

    def udp_loop():
        while True:
            query, peer = udp.recvfrom(512)
            udp.sendto(dns_answer(query, answer), peer)

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self):
            length = struct.unpack("!H", self.request.recv(2))[0]
            query = self.request.recv(length)
            reply = dns_answer(query, answer)
            self.request.sendall(struct.pack("!H", len(reply)) + reply)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer((address, 53), Tcp)
    threading.Thread(target=udp_loop, daemon=True).start()
    threading.Thread(target=tcp.serve_forever, daemon=True).start()


def serve_extra(address, port):
    class Extra(socketserver.BaseRequestHandler):
        def handle(self):
            say("extra server: a connection")
            self.request.sendall(b"extra-reachable\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer((address, port), Extra)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def pump(stream):
    while True:
        chunk = stream.read1(65536)
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        with output_lock:
            output.extend(chunk)
            output_lock.notify_all()
    with output_lock:
        output.extend(b"\n@@EOF@@\n")
        output_lock.notify_all()


def wait_for(pattern, start, timeout):
    """The first match of `pattern` in the output after `start`, or None."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    with output_lock:
        while True:
            m = regex.search(output, start)
            if m or b"@@EOF@@" in output[start:]:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            output_lock.wait(left)


def hostfwd(port, size):
    """Both ways at once: a thread sends while this one reads to the guest's half-close. Only
    then is the connection closed: busybox nc exits at the first end of file it reads."""
    data = os.urandom(size)
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT) as s:
        sender = threading.Thread(target=s.sendall, args=(data,))
        sender.start()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        sender.join()
    say(f"hostfwd sent {len(data)} md5 {md5(data)} received {len(received)} md5 {md5(received)}")


def vmm_identity(pid):
    """uid, CapEff and whether a tun device is open, of the VMM process `pid`."""
    status = open(f"/proc/{pid}/status").read()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    cap = re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1)
    tun = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if "tun" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                tun += 1
        except OSError:
            pass
    say(f"vmm exe {os.path.basename(os.readlink(f'/proc/{pid}/exe'))} uid {uid} capeff {cap} tun-fds {tun}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--tftp-port", type=int)
    parser.add_argument("--blob-size", type=int, default=200000)
    parser.add_argument("--dns")
    parser.add_argument("--dns-answer", default="192.0.2.123")
    parser.add_argument("--extra")
    parser.add_argument("--step", action="append", default=[])
    parser.add_argument("vmm", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    vmm = args.vmm[1:] if args.vmm[:1] == ["--"] else args.vmm

    blob = os.urandom(args.blob_size)
    say(f"blob {len(blob)} bytes md5 {md5(blob)}")
    if args.http_port:
        serve_http(args.http_port, blob)
    if args.tftp_port:
        serve_tftp(args.tftp_port, blob)
    if args.dns:
        serve_dns(args.dns, args.dns_answer)
    if args.extra:
        address, port = args.extra.rsplit(":", 1)
        serve_extra(address, int(port))

    proc = subprocess.Popen(vmm, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    status = 0
    if not wait_for(rb"MINIVMM-GUEST-READY", 0, STEP_TIMEOUT):
        say("the guest did not come up")
        status = 3
    else:
        vmm_identity(proc.pid)
    for n, step in enumerate(args.step if status == 0 else []):
        if step.startswith("@hostfwd "):
            _, port, size = step.split()
            hostfwd(int(port), int(size))
            continue
        with output_lock:
            start = len(output)
        # The tty echoes the command: the marker's expansion ($?) tells output from echo.
        proc.stdin.write(f"{step}; echo @@step{n}@@ $?\n".encode())
        proc.stdin.flush()
        m = wait_for(rb"@@step%d@@ (\d+)" % n, start, STEP_TIMEOUT)
        if not m:
            say(f"step {n} timed out: {step}")
            status = 3
            break
        say(f"step {n} exit={int(m.group(1))}")
    if status == 0:
        proc.stdin.write(b"poweroff -f\n")
        proc.stdin.flush()
    else:
        proc.terminate()
    try:
        rc = proc.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    time.sleep(0.2)  # the pump's last bytes
    say(f"vmm exit {rc}")
    sys.exit(status or rc)


if __name__ == "__main__":
    main()
