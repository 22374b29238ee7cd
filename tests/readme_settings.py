"""Regenerate README.md's settings tables from the code: python tests/readme_settings.py (run from the repo root)."""
import re

from pipeline.core.config import describe_settings

rows = list(describe_settings())
general = [(k, h) for k, h in rows if not h.startswith("(")]
lines = ["| key | meaning |", "|---|---|"] + [f"| `{k}` | {h} |" for k, h in general]
lines += ["", "#### Channel settings", "",
          "Each channel is a table `[channels.NAME]`; `kind` chooses the adapter (default: NAME). Secrets (marked",
          "as such) have no default and should come from the environment, e.g.",
          "`GONGKAI_CHANNELS__WECHAT__APP_SECRET`.", "",
          "| key | kind | meaning |", "|---|---|---|"]
for k, h in rows:
    if h.startswith("("):
        kind, _, rest = h[1:].partition(") ")
        lines.append(f"| `{k}` | {kind} | {rest} |")
text = open("README.md").read()
block = "<!-- settings:start -->\n" + "\n".join(lines) + "\n<!-- settings:end -->"
text = re.sub(r"<!-- settings:start -->.*?<!-- settings:end -->", lambda m: block, text, flags=re.S)
open("README.md", "w").write(text)
