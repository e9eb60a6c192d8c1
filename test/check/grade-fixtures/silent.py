# A lab server that listens and reads but never answers: the checker waits for every status byte
# in vain (a submission that only a time limit stops).
import socket

PORT = 12100

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('', PORT))
server.listen(5)
print('Listening on port', PORT, flush=True)
while True:
    conn, addr = server.accept()
    while conn.recv(1024):
        pass
    conn.close()
