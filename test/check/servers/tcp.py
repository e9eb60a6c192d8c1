#!/usr/bin/env python3
"""A lab server as students write it from the lab's template (Python 3, stdlib only).

Like theirs: a menu read from standard input ("2" receives), ONE connection served and then the
program exits, recv(1) for every byte, listen(1), no SO_REUSEADDR, the server closes first after
Q, files saved as k.txt in the current folder, port 12100 unless one is given.

For the tests, the port can be given as the first argument or in LAB_PORT, and one flaw that
students' servers have can be chosen with LAB_FLAW (or the second argument):

  late-write   answers A, then writes k.txt 0.3 s later
  write-after-a answers A, then writes k.txt at once (microseconds later)
  append       appends to k.txt instead of replacing it
  no-q         closes after the zero-line message without answering Q
  a-newline    answers b'A\\n' instead of b'A'
  spin         never checks for end of stream: a client vanishing mid-message makes it loop forever
  crash-utf8   decodes each line as ASCII, so it crashes on bytes >= 0x80
  sleep-after-q        sleeps 1 s after Q before it closes ("make sure the socket doesn't close while
                       sending data"), holding its listening socket meanwhile
  sleep-late-write     both: A before the file is written (0.3 s later), and the 1 s sleep after Q
  bind-lan             binds the hard-coded LAN address 192.168.1.187, which is not on this machine
  crlf         saves every \\n as \\r\\n (a Windows habit)
  from-zero    numbers the files from 0.txt
  windows-path saves k.txt under a Windows path (C:\\Users\\student\\k.txt: one file name on Linux)
  no-save      answers A but saves nothing
  early-a      answers A as soon as the count has arrived, before reading the lines
"""

import os
import socket
import sys
import time

PORT = 12100
FLAW = ''
LAN_HOST = '192.168.1.187'


def next_byte(data_socket):
    return data_socket.recv(1)


def read_count(data_socket):
    count = b''
    while len(count) < 4:
        b = next_byte(data_socket)
        if b == b'':
            if FLAW == 'spin':
                continue  # the template's loop: it never checks for the end of the stream
            return None
        count += b
    return int.from_bytes(count, 'big')


def read_line(data_socket):
    line = b''
    while True:
        b = next_byte(data_socket)
        if b == b'':
            if FLAW == 'spin':
                continue
            return None
        line += b
        if b == b'\n':
            if FLAW == 'crash-utf8':
                line.decode('ascii')  # the line as text, as many students' servers do
            return line


def save(k, lines):
    name = str(k - 1 if FLAW == 'from-zero' else k) + '.txt'
    if FLAW == 'no-save':
        return
    if FLAW == 'windows-path':
        name = 'C:\\Users\\student\\' + name
    if FLAW == 'crlf':
        lines = [line.replace(b'\n', b'\r\n') for line in lines]
    with open(name, 'ab' if FLAW == 'append' else 'wb') as f:
        for line in lines:
            f.write(line)


def tcp_receive(listen_port):
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if FLAW == 'bind-lan':
        listen_socket.bind((LAN_HOST, listen_port))  # a hard-coded LAN address, as some students' servers have
    else:
        listen_socket.bind(('', listen_port))
    listen_socket.listen(1)
    print('Listening on port', listen_port, flush=True)
    data_socket, address = listen_socket.accept()
    print('Connection from', address, flush=True)
    k = 0
    while True:
        n = read_count(data_socket)
        if n is None:
            print('The client closed the connection mid-message', flush=True)
            break
        if n == 0:
            if FLAW != 'no-q':
                data_socket.sendall(b'Q')
            if FLAW in ('sleep-after-q', 'sleep-late-write'):
                time.sleep(1)  # Make sure Socket doesn't close while sending data
            break
        if FLAW == 'early-a':
            data_socket.sendall(b'A')
        lines = []
        for _ in range(n):
            line = read_line(data_socket)
            if line is None:
                break
            lines.append(line)
        if len(lines) < n:
            print('The client closed the connection mid-message', flush=True)
            break
        k += 1
        if FLAW in ('late-write', 'sleep-late-write'):
            data_socket.sendall(b'A')
            time.sleep(0.3)
            save(k, lines)
        elif FLAW == 'write-after-a':
            data_socket.sendall(b'A')
            save(k, lines)
        elif FLAW == 'early-a':
            save(k, lines)
        else:
            save(k, lines)
            data_socket.sendall(b'A\n' if FLAW == 'a-newline' else b'A')
    data_socket.close()
    listen_socket.close()


def main():
    global FLAW
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get('LAB_PORT', PORT))
    FLAW = sys.argv[2] if len(sys.argv) > 2 else os.environ.get('LAB_FLAW', '')
    choice = input('Select "(1-TS) tcpsend", or "(2-TR) tcpreceive":')
    if choice in ('2', 'TR', 'tr', 'tcpreceive'):
        tcp_receive(port)
    else:
        print('This lab server only receives.')


if __name__ == '__main__':
    main()
