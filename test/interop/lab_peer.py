#!/usr/bin/env python3
"""Independent lab peer for linedrop interop tests (Python 3.11, stdlib only).

Written from the lab handout, it behaves like the lab's own Python programs.

Protocol: one TCP connection carries any number of messages client -> server.
A message is a 4-byte unsigned big-endian line count N, then exactly N lines,
each ending in a single b'\\n'. After each complete message the server replies
with one byte: b'A' (accepted, saved as <k>.txt) or b'Q' (zero-line message;
the server then closes the connection).

Usage:
  lab_peer.py client --host H --port P [--pause S]
      Lines and counts are read from stdin, as in the lab template's client.
  lab_peer.py server [--host H] --port P --dir D
      Prints 'LISTENING <port>' once listening, accepts ONE connection.
      Exit codes: 0 after a zero-line message, 3 if the connection ends
      mid-message (the partial file is not saved).
"""

import argparse
import os
import socket
import sys
import time


def next_byte(s):
    """Read exactly one byte from the socket (b'' on end of stream)."""
    return s.recv(1)


# ---------------------------------------------------------------- client ---

def run_client(host, port, pause):
    # Read stdin as UTF-8 and do no newline translation, so a '\r' before
    # the '\n' stays in the line and is sent.
    sys.stdin.reconfigure(encoding='utf-8', newline='\n')

    def prompt_input(prompt):
        # With piped stdin, input() writes the prompt to stdout without a
        # newline; flush it so it is visible at once.
        sys.stdout.write(prompt)
        sys.stdout.flush()
        return input()

    tcp_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_socket.connect((host, port))

    num_lines = int(prompt_input('Enter the number of lines you want to send (0 to exit):'))
    while num_lines != 0:
        print('Now enter all the lines of your message', flush=True)
        # Count split in two writes, "just to mess with your servers".
        tcp_socket.sendall(b'\x00\x00')
        time.sleep(pause)
        # As in the template, only one byte of the count is used: max 255
        # lines (a larger count raises ValueError, like the template).
        tcp_socket.sendall(b'\x00' + bytes((num_lines,)))
        for i in range(num_lines):
            line = input()
            tcp_socket.sendall(line.encode('utf-8') + b'\n')
        print('Done sending. Awaiting reply.', flush=True)
        response = next_byte(tcp_socket)
        if response == b'A':
            print('File accepted.', flush=True)
        else:
            print('Unexpected response:', response, flush=True)
        num_lines = int(prompt_input('Enter the number of lines you want to send (0 to exit):'))
    tcp_socket.sendall(b'\x00\x00')
    time.sleep(pause)
    tcp_socket.sendall(b'\x00\x00')
    response = next_byte(tcp_socket)
    if response == b'Q':
        print('Server closing connection, as expected.', flush=True)
    else:
        print('Unexpected response:', response, flush=True)
    tcp_socket.close()
    return 0


# ---------------------------------------------------------------- server ---

class ConnectionEnded(Exception):
    """The client closed the connection in the middle of a message."""


def read_byte_or_fail(s):
    b = next_byte(s)
    if b == b'':
        raise ConnectionEnded()
    return b


def read_count(s):
    count = 0
    for _ in range(4):
        count = (count << 8) | read_byte_or_fail(s)[0]
    return count


def read_line(s):
    line = b''
    while True:
        b = read_byte_or_fail(s)
        line += b
        if b == b'\n':
            return line


def run_server(host, port, folder):
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind((host, port))
    listen_socket.listen(1)
    print('LISTENING', listen_socket.getsockname()[1], flush=True)

    data_socket, _addr = listen_socket.accept()
    k = 0
    try:
        while True:
            num_lines = read_count(data_socket)
            if num_lines == 0:
                data_socket.sendall(b'Q')
                return 0
            lines = [read_line(data_socket) for _ in range(num_lines)]
            content = b''.join(lines)
            k += 1
            name = '%d.txt' % k
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(content)
            print('saved %s (%d lines, %d bytes)' % (name, num_lines, len(content)),
                  flush=True)
            data_socket.sendall(b'A')
    except ConnectionEnded:
        print('connection ended mid-message', file=sys.stderr, flush=True)
        return 3
    finally:
        data_socket.close()
        listen_socket.close()


# ------------------------------------------------------------------ main ---

def main(argv=None):
    parser = argparse.ArgumentParser(description='Lab peer for linedrop interop tests.')
    sub = parser.add_subparsers(dest='mode', required=True)

    client = sub.add_parser('client', help='lab template client (reads stdin)')
    client.add_argument('--host', default='127.0.0.1')
    client.add_argument('--port', type=int, required=True)
    client.add_argument('--pause', type=float, default=1.0,
                        help='pause between the two halves of the count (seconds)')

    server = sub.add_parser('server', help='byte-at-a-time lab server, one connection')
    server.add_argument('--host', default='127.0.0.1')
    server.add_argument('--port', type=int, required=True, help='0 = pick a free port')
    server.add_argument('--dir', default='.')

    args = parser.parse_args(argv)
    if args.mode == 'client':
        return run_client(args.host, args.port, args.pause)
    return run_server(args.host, args.port, args.dir)


if __name__ == '__main__':
    sys.exit(main())
