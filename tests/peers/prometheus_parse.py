"""Parses Prometheus text exposition from stdin with the official Python
client's parser (prometheus_client.parser) and prints the families as JSON:
{"family": {"type": ..., "help": ..., "samples": [[name, labels, value]]}}.

Exit status 3 when prometheus_client is missing, with how to install it.
"""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    sys.stderr.write(
        f"prometheus_client is not importable ({e}); install it with "
        "`python3 -m pip install prometheus_client==0.26.0` (the tests provision it under target/ themselves)\n"
    )
    sys.exit(3)

out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(out))
