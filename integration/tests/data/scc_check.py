"""Google's own Security Command Center client as the oracle for scrun's findings.

Reads findings (one JSON object per line) on stdin and parses each with
google.cloud.securitycenter_v2.Finding.from_json(..., ignore_unknown_fields=False): a field the
v2 schema does not define, or a value of the wrong type, raises. Prints one line per finding,
"ok <category>", or "REJECTED <line number>: <error>" and exits 1.
"""
import sys

from google.cloud import securitycenter_v2

bad = 0
for n, line in enumerate(sys.stdin, 1):
    line = line.strip()
    if not line:
        continue
    try:
        f = securitycenter_v2.Finding.from_json(line, ignore_unknown_fields=False)
    except Exception as e:  # the client raises ParseError / ValueError / TypeError
        bad += 1
        print(f"REJECTED {n}: {type(e).__name__}: {e}")
        continue
    print(f"ok {f.category}")
sys.exit(1 if bad else 0)
