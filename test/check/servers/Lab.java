// A lab server in Java, as students write it: one connection, one byte at a time, k.txt written
// through a FileOutputStream, then exit. Usage: java Lab.java PORT [write-after-a]
// (write-after-a: sends A, then writes and closes k.txt).
import java.io.*;
import java.net.*;

public class Lab {
  public static void main(String[] args) throws IOException {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 12100;
    boolean late = args.length > 1 && args[1].equals("write-after-a");
    try (ServerSocket ls = new ServerSocket()) {
      ls.setReuseAddress(true);
      ls.bind(new InetSocketAddress(port), 1);
      try (Socket s = ls.accept()) {
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream();
        for (int k = 1; ; k++) {
          long n = 0;
          for (int i = 0; i < 4; i++) {
            int b = in.read();
            if (b < 0) return;
            n = n << 8 | b;
          }
          if (n == 0) { out.write('Q'); out.flush(); break; }
          ByteArrayOutputStream lines = new ByteArrayOutputStream();
          for (long i = 0; i < n; ) {
            int b = in.read();
            if (b < 0) return;
            lines.write(b);
            if (b == '\n') i++;
          }
          FileOutputStream f = new FileOutputStream(k + ".txt");
          if (late) { out.write('A'); out.flush(); f.write(lines.toByteArray()); f.close(); }
          else { f.write(lines.toByteArray()); f.close(); out.write('A'); out.flush(); }
        }
      }
    }
  }
}
