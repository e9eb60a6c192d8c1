/* A lab server in C, as students write it: one connection, recv() of one byte at a time,
 * k.txt written with stdio (buffered: the bytes reach the file at fclose), then exit.
 * Usage: lab PORT [write-after-a]   (write-after-a: sends A, then writes and closes k.txt) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int next_byte(int s, unsigned char *b) { return recv(s, b, 1, 0) == 1; }

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 12100;
  int late = argc > 2 && strcmp(argv[2], "write-after-a") == 0;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 1) < 0) { perror("bind"); return 1; }
  int s = accept(ls, NULL, NULL);
  for (int k = 1;; k++) {
    unsigned char c[4], b;
    for (int i = 0; i < 4; i++) if (!next_byte(s, &c[i])) return 0;
    unsigned long n = (unsigned long)c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3];
    if (n == 0) { send(s, "Q", 1, 0); break; }
    char name[32];
    snprintf(name, sizeof name, "%d.txt", k);
    FILE *f = fopen(name, "w");
    for (unsigned long i = 0; i < n;) {
      if (!next_byte(s, &b)) return 0;
      fputc(b, f);
      if (b == '\n') i++;
    }
    if (late) { send(s, "A", 1, 0); fclose(f); }
    else { fclose(f); send(s, "A", 1, 0); }
  }
  close(s);
  close(ls);
  return 0;
}
