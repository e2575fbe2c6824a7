#!/usr/bin/env python3
"""openvpn-mgmt-pin.py PORT PINFILE [TIMEOUT]

Drive an OpenVPN client started with `--management 127.0.0.1 PORT --management-query-passwords
--management-hold`: release the hold, answer the token PIN query (">PASSWORD:Need 'LABEL token'
password") with the PIN read from PINFILE, and exit 0 as soon as the client reports the
CONNECTED state; exit 1 when it reports RECONNECTING or EXITING instead, on EOF, or after
TIMEOUT seconds (default 30). Every line the management interface sends is printed (the PIN is
never printed: OpenVPN does not echo it).

Without a terminal, this is how a PIN reaches OpenVPN (the console prompt needs a TTY)."""
import re
import socket
import sys
import time


def quote(value):
    """The management protocol's quoting: backslash and double quote are escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    port, pin_file = int(sys.argv[1]), sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    with open(pin_file, encoding="utf-8") as f:
        pin = f.read().strip()
    deadline = time.time() + timeout
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.time() > deadline:
                print("management interface did not come up", flush=True)
                return 1
            time.sleep(0.1)
    sock.settimeout(0.5)
    sock.sendall(b"state on\nhold release\n")
    buf = b""
    while time.time() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            print("management interface closed", flush=True)
            return 1
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            print("MGMT<", line, flush=True)
            asked = re.match(r">PASSWORD:Need '(.+)' password", line)
            if asked:
                sock.sendall(("password %s %s\n" % (quote(asked.group(1)), quote(pin))).encode())
            if ",CONNECTED," in line:
                return 0
            if ",RECONNECTING," in line or ",EXITING," in line:
                print("the client gave up this connection (see its log)", flush=True)
                return 1
    print("timed out waiting for CONNECTED", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
