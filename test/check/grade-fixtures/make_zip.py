# Writes a zip as a course site (or an attacker) would, with Python's own zipfile module, for the
# grade tests: python3 make_zip.py OUT.zip '<JSON list of entries>'. An entry is
# {"name": "a/b.py", "text": "..."} (a file), {"name": "a/", "dir": true} (a folder),
# {"name": "a/zeros", "zeros": N} (N zero bytes, deflated), or {"name": "link", "symlink": "/etc"}.
# Names are written as given: "../x" and "/abs" included.
import json
import stat
import sys
import zipfile

out, entries = sys.argv[1], json.loads(sys.argv[2])
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    for e in entries:
        info = zipfile.ZipInfo(e['name'])
        info.compress_type = zipfile.ZIP_DEFLATED
        if e.get('dir'):
            info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
            data = b''
        elif 'symlink' in e:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            data = e['symlink'].encode()
        elif 'zeros' in e:
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            data = bytes(e['zeros'])
        else:
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            data = e['text'].encode()
        z.writestr(info, data)
