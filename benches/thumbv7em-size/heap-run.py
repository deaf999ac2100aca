#!/usr/bin/env python3
"""Measures the heap mtls-core needs on a Cortex-M7, up to a finished mTLS handshake.

Runs the firmware (built with --features heap-stats) in QEMU's mps2-an500 twice:
1. it prints its ClientHello (its RNG is a fixed dummy, so the hello is the same every run);
   this script sends it to a local TLS 1.3 server (Python's ssl, demanding a client
   certificate signed by pki/ca.pem) and records the server's first flight;
2. the firmware is rebuilt with that flight as its input, checks the server's certificate,
   answers with its certificate, CertificateVerify and Finished, then writes the token
   request; the peak heap over all of it is reported.
Needs qemu-system-arm and openssl. Loopback only. Usage: python3 heap-run.py
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ELF = os.path.join(HERE, "target/thumbv7em-none-eabihf/qemu/thumbv7em-size")
QEMU = ["qemu-system-arm", "-machine", "mps2-an500", "-cpu", "cortex-m7", "-nographic",
        "-semihosting-config", "enable=on,target=native", "-kernel", ELF]


def sh(cmd, **kw):
    subprocess.run(cmd, check=True, cwd=HERE, **kw)


def server_pki(work):
    """A throwaway server CA and a certificate for api.example.com (the firmware's host)."""
    ca, ca_key = f"{work}/server-ca.pem", f"{work}/server-ca-key.pem"
    crt, key, csr, ext = (f"{work}/server.pem", f"{work}/server-key.pem",
                          f"{work}/server.csr", f"{work}/ext.cnf")
    q = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "30", "-subj", "/CN=heap-run server CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign", "-keyout", ca_key, "-out", ca], **q)
    sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=api.example.com", "-keyout", key, "-out", csr], **q)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:api.example.com\nextendedKeyUsage=serverAuth\n")
    sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", crt], **q)
    return ca, crt, key


def build_and_run(ca, flight):
    env = dict(os.environ, HEAP_STATS_CA=ca, HEAP_STATS_FLIGHT=flight)
    sh(["cargo", "build", "--quiet", "--profile", "qemu", "--features", "heap-stats"], env=env)
    out = subprocess.run(QEMU, cwd=HERE, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"qemu exited {out.returncode}:\n{out.stdout}{out.stderr}")
    return out.stdout


def record_flight(hello, crt, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.load_verify_locations(os.path.join(HERE, "pki/ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            ctx.wrap_socket(conn, server_side=True)  # waits for a second flight that never comes
        except (OSError, ssl.SSLError):
            pass

    threading.Thread(target=serve, daemon=True).start()
    client = socket.create_connection(listener.getsockname())
    client.sendall(hello)
    client.settimeout(2)
    data = b""
    try:
        while chunk := client.recv(65536):
            data += chunk
    except socket.timeout:
        pass
    client.close()
    return data


def tx_chunks(log):
    return [bytes.fromhex(m) for m in re.findall(r"^TX tick \d+ \d+ B: ([0-9a-f]+)$", log, re.M)]


def main():
    with tempfile.TemporaryDirectory() as work:
        ca, crt, key = server_pki(work)
        first = build_and_run(ca, "")
        hello = tx_chunks(first)[0]
        flight = record_flight(hello, crt, key)
        if not flight:
            sys.exit("the server sent nothing")
        path = f"{work}/flight.bin"
        with open(path, "wb") as f:
            f.write(flight)
        print(f"ClientHello {len(hello)} B, server flight {len(flight)} B")
        second = build_and_run(ca, path)
        if tx_chunks(second)[0] != hello:
            sys.exit("the ClientHello changed between runs; the recorded flight does not fit")
        for line in second.splitlines():
            print(line if not line.startswith("TX ") else line[:line.index(":") + 1] + " ...")


if __name__ == "__main__":
    main()
