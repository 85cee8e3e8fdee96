"""Write docs/api.md, the API reference of `cm.*` and `gk.*`, from their docstrings
(`cellmodel.api_reference`).

    .venv/bin/python scripts/make_api_docs.py          # rewrite docs/api.md
    .venv/bin/python scripts/make_api_docs.py --check  # exit 1 when stale or an example is missing
"""

from __future__ import annotations

import sys

from cellmodel.api_reference import TARGET, problems, render


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        missing = problems()
        for line in missing:
            print(line, file=sys.stderr)
        stale = not TARGET.exists() or TARGET.read_text() != text
        if stale:
            print("docs/api.md is stale: run scripts/make_api_docs.py", file=sys.stderr)
        return 1 if stale or missing else 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
