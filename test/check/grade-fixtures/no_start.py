# A lab server that never starts: it fails before it listens.
import socket

PORT = 12100

print('Starting the server', flush=True)
raise SystemExit('config.txt not found: cannot start')
