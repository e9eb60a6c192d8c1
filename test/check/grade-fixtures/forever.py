# A lab server by a student who went further: it sets SO_REUSEADDR and serves one connection
# after another until it is stopped. Otherwise as the template: recv(1), the port hard-coded,
# the menu answer read from standard input. Correct.
import socket

PORT = 12100


def next_byte(s):
    b = s.recv(1)
    if not b:
        raise ConnectionError('the client went away')
    return b


def serve(conn):
    k = 0
    while True:
        count = b''
        while len(count) < 4:
            count += next_byte(conn)
        n = int.from_bytes(count, 'big')
        if n == 0:
            conn.sendall(b'Q')
            return
        k += 1
        data = b''
        for _ in range(n):
            line = b''
            while not line.endswith(b'\n'):
                line += next_byte(conn)
            data += line
        with open(str(k) + '.txt', 'wb') as f:
            f.write(data)
        conn.sendall(b'A')


def tcp_receive(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('', port))
    server.listen(5)
    print('Listening on port', port, flush=True)
    while True:
        conn, addr = server.accept()
        try:
            serve(conn)
        except ConnectionError:
            pass
        conn.close()


if input('Select "(1-TS) tcpsend", or "(2-TR) tcpreceive":') in ('2', 'TR', 'tr', 'tcpreceive'):
    tcp_receive(PORT)
